"""``breastbench plan``: the grid, its cache builds and estimated device-hours, before the spend.

Run counts come from the config (:func:`breastbench.experiment.grid.expand`); image counts from
the data when its root is on disk, otherwise from the source's published size
(:mod:`breastbench.data.published`), and the plan says which. Throughput comes from the table
``experiment/throughput.json`` (numbers measured by ``bench/``, per device kind, with their
source); a model without a measurement borrows its family's default and is flagged.

Seconds per run, by the model state its mode needs (:class:`breastbench.modes.Mode`; n_train /
n_test images of the run, E epochs):

- finetune: E n_train / train + n_test / eval;
- a probe-like mode (knn, simpleshot, tuned_probe, a plugin's): (n_train + n_test) / eval;
- linear_probe without augmentation: (n_train + n_test) / eval (features once);
- zero_shot: n_test / eval; for a generative VLM times one pass per answer string, each over
  the query and its k example images per class (an estimate: the eval rate is one image's
  forward, and long prompts cost more than linearly);
- linear_probe with augmentation: (E n_train + n_test) / eval (frozen forward every epoch);
- lora without augmentation: (n_train + n_test) / vision + (E n_train + n_test) / lora_cached;
- lora with augmentation: E n_train / lora_images + n_test / eval.

A model whose table entry has ``auto`` rates (measured at the micro-batch that
``micro_batch_size: auto`` finds on that device, ``bench/gpu_check.sh``) is estimated with them
when its config says ``auto``; otherwise the plan says beside the estimate how many
device-hours ``auto`` would save. ``--throughput FILE`` (the JSON ``bench/gpu_check.sh``
writes) overrides the packaged table's models for the device kinds it holds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from breastbench.experiment.cachegroup import cache_group
from breastbench.experiment.config import ExperimentConfig
from breastbench.experiment.grid import RunSpec, expand
from breastbench.modes import get_mode
from breastbench.results import RunFolder

KINDS = ("h100", "cpu")


def throughput_table(extra: str | Path | None = None) -> dict:
    """The packaged throughput table, with the device kinds of ``extra`` (a JSON file) merged.

    ``extra`` has the packaged file's layout, ``{kind: {source, models, family_default}}``; its
    models replace the packaged ones of the same name, the others stay.
    """
    from breastbench.errors import UserError

    table = json.loads((resources.files("breastbench") / "experiment/throughput.json").read_text())
    if extra is None:
        return table
    try:
        add = json.loads(Path(extra).read_text())
    except (OSError, ValueError) as err:
        raise UserError(f"--throughput {extra}: cannot read it as JSON ({err})") from None
    kinds = {k: v for k, v in add.items() if isinstance(v, dict) and "models" in v}
    if not kinds:
        raise UserError(
            f"--throughput {extra}: no device kind with 'models' in it; expected the JSON "
            'bench/gpu_check.sh writes, e.g. {"h100": {"source": ..., "models": {...}}}'
        )
    for kind, entry in kinds.items():
        base = table.setdefault(kind, {"source": "", "models": {}, "family_default": {}})
        base["models"] = {**base["models"], **entry["models"]}
        base["family_default"] = {**base["family_default"], **entry.get("family_default", {})}
        base["source"] = f"{entry.get('source', extra)}; other models: {base['source']}"
    return table


@dataclass
class DatasetCount:
    """Images of one dataset (per magnification), and where the number comes from."""

    per_mag: dict[int | None, int]
    origin: str  # "data on disk" or a citation of the published size
    patients: int | None = None  # distinct patient_id values, when the data is on disk


@dataclass
class ConfigPlan:
    """One configuration of the grid: its runs and their estimated cost."""

    config_id: str
    model_name: str
    name: str = ""  # the configuration in words (labels and text templates as written)
    runs: int = 0
    complete: int = 0
    hours: float = 0.0
    auto_saves: float = 0.0  # device-hours micro_batch_size: auto would save
    throughput_note: str = ""
    specs: list[RunSpec] = field(default_factory=list)


def _count_dataset(ds) -> DatasetCount:
    from breastbench.data.published import published_count

    if Path(ds.root).is_dir():
        from breastbench.data import load_manifest

        opts = dict(ds.options)
        try:
            from breastbench.data.sources import source_options

            if ds.task and "task" in source_options(ds.source):
                opts["task"] = ds.task
            df = load_manifest(ds.source, ds.root, check_files=False, **opts)
        except Exception:  # noqa: BLE001 - planning must not fail on a half-downloaded tree
            df = None
        if df is not None:
            counts: dict[int | None, int] = {None: len(df)}
            if "magnification" in df.columns:
                for mag, n in df["magnification"].value_counts().items():
                    counts[int(mag)] = int(n)
            patients = int(df["patient_id"].nunique()) if "patient_id" in df.columns else None
            return DatasetCount(counts, f"data on disk ({ds.root})", patients)
    base = ds.source.removeprefix("synthetic-")
    found = published_count(base)
    if found is None:
        return DatasetCount(
            {None: 0}, f"unknown: {ds.root} is not on disk and {ds.source} has no published size"
        )
    counts = {None: found[0]}
    for mag in ds.magnifications or []:
        counts[mag] = published_count(base, mag)[0]
    return DatasetCount(counts, f"published size: {found[1]}")


def _union_counts(cfg, counts: dict) -> dict:
    """A union's count (leave-one-source-out training set): the sum of its members'."""
    from breastbench.experiment.loso import UNION

    out = {}
    for ds in cfg.datasets:
        if ds.source == UNION:
            members = ds.options["members"]
            n = sum(counts[m].per_mag.get(None, 0) for m in members)
            out[ds.name] = DatasetCount({None: n}, f"sum of its members ({', '.join(members)})")
    return out


def _rates(table: dict, model_name: str, family: str) -> tuple[dict, str]:
    if model_name in table["models"]:
        return table["models"][model_name], ""
    fallback = table["family_default"].get(family)
    return table["models"].get(fallback, {}), f"no measurement: borrowed from {fallback}"


def run_seconds(
    spec: RunSpec, rates: dict, n_train: float, n_test: float, epochs: int, passes: float = 1.0
) -> float:
    """Estimated seconds of one run (see the module docstring).

    ``passes`` scales a generative zero-shot's test images: one decoder pass per answer string,
    each over the query and its in-context example images (see :func:`generative_passes`).
    """

    def r(name: str, default: str = "eval") -> float:
        return float(rates.get(name) or rates.get(default) or rates.get("train") or 1.0)

    aug = spec.key.augmentation != "off"
    mode = get_mode(spec.key.mode)
    if mode.state == "finetune":
        return epochs * n_train / r("train") + n_test / r("eval")
    if mode.state == "zero_shot":
        return passes * n_test / r("eval")
    if mode.probe:
        return (n_train + n_test) / r("eval")  # features once; the probe itself is cheap
    if mode.state == "linear_probe":
        return ((epochs * n_train if aug else n_train) + n_test) / r("eval")
    if aug:
        return epochs * n_train / r("lora_images", "train") + n_test / r("eval")
    return (n_train + n_test) / r("vision") + (epochs * n_train + n_test) / r(
        "lora_cached", "train"
    )


def generative_passes(mc, shots: str | None) -> float:
    """Image-sized decoder passes per test image of a generative VLM's zero-shot run.

    Every answer string of the question set is scored on its own sequence, and every sequence
    holds the query plus k example images per class.
    """
    from breastbench.models.questions import load_questions

    qs = load_questions(mc.prompt_set)
    k = int(shots) if shots not in (None, "all") else 0
    return sum(len(a) for a in qs.answers.values()) * (1 + k * len(qs.answers))


def with_auto(rates: dict) -> dict:
    """The rates at the micro-batch ``auto`` finds (the table's ``auto`` entry), else as given."""
    auto = rates.get("auto")
    if not isinstance(auto, dict):
        return rates
    return {**rates, **{k: v for k, v in auto.items() if isinstance(v, (int, float))}}


def make_plan(
    cfg: ExperimentConfig,
    out: str | None = None,
    kind: str = "h100",
    throughput=None,
    power: dict | None = None,
) -> dict:
    """The plan as plain data: configurations, cache builds, totals and their sources.

    With ``power`` (the assumption of :func:`breastbench.experiment.power_plan.plan_power`,
    ``{}`` for its defaults) the plan also sizes every declared comparison.
    """
    from breastbench.models import get_info
    from breastbench.report.names import run_name

    table = _kind_table(throughput, kind)
    auto_detail: dict[str, str] = {}
    out_dir = Path(out or cfg.output_dir)
    folder = RunFolder(out_dir)
    counts = {ds.name: _count_dataset(ds) for ds in cfg.datasets if ds.root is not None}
    counts.update(_union_counts(cfg, counts))
    specs = expand(cfg)
    configs: dict[str, ConfigPlan] = {}
    image_caches: set = set()
    caches: dict[str, set] = {"features": set(), "vision": set(), "images": set()}
    for spec in specs:
        key, mc = spec.key, spec.entry
        info = get_info(mc.name)
        mode = get_mode(key.mode)
        plan = configs.setdefault(
            key.config_id,
            ConfigPlan(
                key.config_id,
                mc.name,
                run_name(key.config, {key.text: spec.text} if spec.text else {}),
            ),
        )
        rates, note = _rates(table, mc.name, info.family)
        auto = rates.get("auto") if isinstance(rates.get("auto"), dict) else None
        if auto and mc.micro_batch_size == "auto":
            rates = with_auto(rates)
            note = (note + "; " if note else "") + f"auto: micro-batch {auto['micro_batch']}"
        plan.throughput_note = note
        plan.runs += 1
        plan.complete += int(folder.is_complete(key))
        n_train, n_test = _image_counts(cfg, counts, spec)
        epochs = 0 if mode.state == "zero_shot" else cfg.training.epochs
        generative = mode.state == "zero_shot" and "generative" in info.capabilities
        passes = generative_passes(mc, key.shots) if generative else 1.0
        seconds = run_seconds(spec, rates, n_train, n_test, epochs, passes)
        if key.calibration is not None:  # its raw twin's fit, plus a pass over validation rows
            seconds = run_seconds(spec, rates, 0, cfg.training.val_fraction * n_train, 0, passes)
        plan.hours += seconds / 3600.0
        batch = cfg.training.batch_size
        configured = batch if mc.micro_batch_size in (None, "auto") else mc.micro_batch_size
        configured = min(configured, batch)
        bigger = auto and mc.micro_batch_size != "auto" and auto["micro_batch"] > configured
        if bigger and not mode.frozen:
            faster = run_seconds(spec, with_auto(rates), n_train, n_test, epochs, passes)
            plan.auto_saves += max(seconds - faster, 0.0) / 3600.0
            auto_detail[mc.name] = _auto_line(mc.name, configured, auto, rates, table)
        size = mc.input_size or "default"
        datasets = (key.dataset, key.external) if key.external else (key.dataset,)
        image_caches.add((datasets, key.magnification, mc.name, size, mc.resize, cfg.stain_norm))
        group = cache_group(spec)  # the key Ray and the local executor share caches by
        caches[group[0]].add(group)
    builds = {
        "images": len(image_caches),
        "features": len(caches["features"]),
        "vision_tokens": len(caches["vision"]),
    }
    data = _as_data(cfg, kind, table, counts, configs, len(specs), builds, auto_detail)
    if power is not None:
        from breastbench.experiment.power_plan import plan_power

        data["power"] = plan_power(cfg, specs, counts, power)
    return data


def _kind_table(throughput, kind: str) -> dict:
    """The throughput rows of device ``kind`` (a shipped table merged with ``throughput``)."""
    full_table = throughput_table(throughput)
    if kind not in full_table:
        from breastbench.errors import UserError

        known = ", ".join(k for k, v in full_table.items() if isinstance(v, dict))
        raise UserError(f"--device-kind {kind}: no throughput for it; known: {known}")
    return full_table[kind]


def _image_counts(cfg: ExperimentConfig, counts: dict, spec) -> tuple[float, float]:
    """(training images, test images) of one run, from the datasets' image counts."""
    key = spec.key
    n_all = counts[key.dataset].per_mag.get(key.magnification, 0)
    if key.external:
        n_train, n_test = n_all, counts[key.external].per_mag.get(None, 0)
    else:
        n_train, n_test = n_all * (cfg.cv.k - 1) / cfg.cv.k, n_all / cfg.cv.k
    if key.shots not in (None, "all"):  # k patients per class: a few dozen images at most
        n_train = min(n_train, 8 * int(key.shots) * 2)
    return n_train, n_test


def _auto_line(name: str, configured: int, auto: dict, rates: dict, table: dict) -> str:
    """What ``micro_batch_size: auto`` would change for one model, as the plan prints it."""
    return (
        f"{name}: micro-batch {configured} -> auto {auto['micro_batch']} ("
        + ", ".join(
            f"{k} {rates[k]:g} -> {auto[k]:g} img/s"
            for k in ("train", "lora_cached", "lora_images")
            if k in auto and k in rates
        )
        + f"; {auto.get('source', table['source'])})"
    )


def _as_data(cfg, kind, table, counts, configs, n_runs, builds, auto_detail) -> dict:
    """The plan as plain data (what ``plan --json`` prints and the table renders)."""
    saves = round(sum(p.auto_saves for p in configs.values()), 2)
    return {
        "experiment": cfg.name,
        "device_kind": kind,
        "throughput_source": table["source"],
        "datasets": {n: {"images": c.per_mag, "origin": c.origin} for n, c in counts.items()},
        "configurations": [
            {
                "config_id": p.config_id,
                "name": p.name,
                "model": p.model_name,
                "runs": p.runs,
                "complete": p.complete,
                "device_hours": round(p.hours, 3),
                "auto_saves_hours": round(p.auto_saves, 3),
                "note": p.throughput_note,
            }
            for p in configs.values()
        ],
        "runs": n_runs,
        "complete": sum(p.complete for p in configs.values()),
        "cache_builds": builds,
        "device_hours": round(sum(p.hours for p in configs.values()), 2),
        "micro_batch_auto": {
            "saves_device_hours": saves,
            "device_hours_with_auto": round(sum(p.hours for p in configs.values()) - saves, 2),
            "detail": sorted(auto_detail.values()),
        },
    }


def render(plan: dict):
    """A rich table of the plan."""
    from rich.table import Table

    auto = plan["micro_batch_auto"]
    saving = ""
    if auto["saves_device_hours"] > 0:
        saving = (
            f"; micro_batch_size: auto would save ~{auto['saves_device_hours']} "
            f"(~{auto['device_hours_with_auto']} device-hours)"
        )
    table = Table(
        title=f"plan: {plan['experiment']} on {plan['device_kind']} "
        f"({plan['runs']} runs, {plan['complete']} complete, ~{plan['device_hours']} "
        f"device-hours{saving})"
    )
    cols = ["configuration", "runs", "done", "hours", "auto saves", "note"]
    if not saving:
        cols.remove("auto saves")
    for col in cols:
        table.add_column(col, justify="left" if col in ("configuration", "note") else "right")
    for c in plan["configurations"]:
        row = [
            c.get("name") or c["config_id"],
            str(c["runs"]),
            str(c["complete"]),
            f"{c['device_hours']:.2f}",
        ]
        if saving:
            row.append(f"{c['auto_saves_hours']:.2f}" if c["auto_saves_hours"] else "")
        table.add_row(*row, c["note"])
    caches = plan["cache_builds"]
    table.caption = (
        f"cache builds: {caches['images']} image, {caches['features']} feature, "
        f"{caches['vision_tokens']} vision-token; throughput: {plan['throughput_source']}; "
        + "; ".join(f"{n}: {d['origin']}" for n, d in plan["datasets"].items())
    )
    if saving:
        table.caption += (
            "; micro_batch_size: auto (the largest micro-batch that fits, probed per run "
            "configuration; same batch by gradient accumulation): " + "; ".join(auto["detail"])
        )
    return table
