"""The one analysis of a run folder: per-run metrics, mean ± interval, comparisons.

Run once after the grid (``breastbench run``) and by ``breastbench report``; it reads only the
run folders' files and writes ``summary/``:

- ``metrics_by_run.csv``: one row per complete run (key fields + every metric);
- ``aggregate.csv``: per configuration and metric, mean, sample std (ddof=1), n, ``unit`` (what
  n counts: folds of a cross-validation, training seeds of an external validation) and a 95%
  interval named in ``ci_method`` (logit-scale t for bounded metrics, so it stays in range).
  Support draws of a label-efficiency run share their fold's test set, so they are averaged
  within the fold first: n counts independent test sets, never folds x draws;
- ``pooled.csv``: per cross-validated configuration, metrics over the pooled out-of-fold
  predictions, per image and per patient; descriptive only (they mix differently calibrated fold
  models) and used by no test; with support draws, the mean over draws of each draw's pooled
  metrics (never an ensemble of draws);
- ``comparisons.csv``: the only comparisons table, pairs chosen by ``compare:``
  (:mod:`breastbench.results.spec`), two tests per pair and metric, one primary: the fold-aware
  bootstrap (the mean over folds of the within-fold difference, resampling patients within each
  fold) and the Wilcoxon signed-rank test over folds/seeds, corrected within the chosen family;
- ``reliability.csv``: reliability-curve points per configuration (from the calibration
  module), so the report only draws them;
- ``analysis.json``: the compare spec used, the bootstrap size, notes and problems.

The report renders these files and recomputes nothing.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, fields
from pathlib import Path

import numpy as np
import pandas as pd

from breastbench import jsonio
from breastbench.errors import UserError
from breastbench.results.folder import Problem, RunFolder, StoredRun
from breastbench.results.key import RunKey
from breastbench.results.spec import SUBSET_FIELDS, CompareSpec, selector

KEY_FIELDS = [f.name for f in fields(RunKey)]
CONFIG_FIELDS = [f for f in KEY_FIELDS if f not in ("fold", "seed", "draw")]
DESCRIPTIVE = ("family", "model_name", "task", "n_classes", "trainable_params", "total_params")


def default_metrics(n_classes: int) -> list[str]:
    """The metrics compared when ``compare.metrics`` is not set."""
    return ["auc", "accuracy"] if n_classes == 2 else ["auc_ovr_macro", "kappa_quadratic"]


def _describe(run: StoredRun) -> dict:
    info = run.info
    trainable = info.get("trainable") or {}
    return {
        "family": info.get("model_family") or "",
        "model_name": info.get("model_name") or "",
        "task": info.get("task") or "",
        "n_classes": len(run.classes),
        "trainable_params": trainable.get("trainable_params", np.nan),
        "total_params": trainable.get("total_params", np.nan),
    }


def run_table(runs: list[StoredRun]) -> pd.DataFrame:
    """One row per run: key fields, configuration id, descriptive fields, every metric."""
    rows = []
    for r in runs:
        rows.append(
            {
                "run_id": r.run_id,
                "config_id": r.key.config_id,
                **r.key.to_dict(),
                **_describe(r),
                **r.metrics,
            }
        )
    return pd.DataFrame(rows)


# -- the replicate hierarchy ------------------------------------------------------------------
UNIT_NAMES = {"fold": "folds", "seed": "seeds"}


def unit_of(key: RunKey) -> tuple:
    """The independent replicate a run belongs to: its fold or seed, without its draw.

    Support draws of one fold share that fold's test set, so they are one unit, not several.
    """
    return tuple((n, v) for n, v in key.replicate or () if n != "draw")


def unit_name(units) -> str:
    """What a count of ``units`` counts: ``folds``, ``seeds`` or ``runs``."""
    for u in units:
        axis = "/".join(n for n, _ in u)
        return UNIT_NAMES.get(axis, f"{axis}s" if axis else "runs")
    return "runs"


def _stratum(unit: tuple) -> tuple:
    """Units of one stratum share one test set: each fold its own; an external test set one."""
    return tuple((n, v) for n, v in unit if n == "fold") or ("shared test set",)


def unit_values(group: list[StoredRun], metric: str) -> dict[tuple, float]:
    """{unit: metric} with draws averaged within their unit first (NaN values left out)."""
    by_unit: dict[tuple, list[float]] = {}
    for r in group:
        v = r.metrics.get(metric, np.nan)
        if not np.isnan(v):
            by_unit.setdefault(unit_of(r.key), []).append(float(v))
    return {u: float(np.mean(v)) for u, v in sorted(by_unit.items())}


def aggregate(runs: list[StoredRun], problems: list[Problem]) -> pd.DataFrame:
    """Per configuration and metric: mean, std, n (independent units), interval, n_expected."""
    from breastbench.metrics.stats import metric_bounds, replicate_interval

    by_cfg: dict[RunKey, list[StoredRun]] = {}
    for r in runs:
        by_cfg.setdefault(r.key.config, []).append(r)
    expected: dict[RunKey, set] = {}
    for r in runs:
        expected.setdefault(r.key.config, set()).add(unit_of(r.key))
    for p in problems:
        if p.key is not None:
            expected.setdefault(p.key.config, set()).add(unit_of(p.key))
    rows = []
    for cfg in sorted(set(by_cfg) | set(expected)):
        group = by_cfg.get(cfg, [])
        desc = _describe(group[0]) if group else dict.fromkeys(DESCRIPTIVE, "")
        base = {"config_id": cfg.run_id, **_cfg_fields(cfg), **desc}
        units = expected.get(cfg, set())
        unit = unit_name(units)
        names = sorted({k for r in group for k in r.metrics})
        if not names:
            rows.append(
                {
                    **base,
                    "metric": "",
                    "mean": np.nan,
                    "std": np.nan,
                    "n": 0,
                    "unit": unit,
                    "n_runs": 0,
                    "n_expected": len(units),
                }
            )
        for name in names:
            per_unit = unit_values(group, name)
            values = np.array(list(per_unit.values()), float)
            lo, hi, method = replicate_interval(values, metric_bounds(name))
            rows.append(
                {
                    **base,
                    "metric": name,
                    "mean": float(values.mean()) if len(values) else np.nan,
                    "std": float(values.std(ddof=1)) if len(values) > 1 else np.nan,
                    "n": int(len(values)),
                    "unit": unit,
                    "n_runs": sum(1 for r in group if not np.isnan(r.metrics.get(name, np.nan))),
                    "ci_low": lo,
                    "ci_high": hi,
                    "ci_method": method,
                    "n_expected": len(units),
                }
            )
    return pd.DataFrame(rows)


def _cfg_fields(cfg: RunKey) -> dict:
    return {k: v for k, v in cfg.to_dict().items() if k in CONFIG_FIELDS}


# -- pooled (descriptive) ----------------------------------------------------------------------
POOLED_NOTE = (
    "descriptive only: out-of-fold predictions of {k} separately fitted fold models pooled into "
    "one table; no test uses these numbers"
)


def _concat(group: list[StoredRun]) -> pd.DataFrame:
    frames = [r.predictions for r in sorted(group, key=lambda r: r.key)]
    both = pd.concat(frames, ignore_index=True)
    both.attrs = dict(frames[0].attrs)
    return both


def _pooled_levels(both: pd.DataFrame) -> list[dict]:
    """Metric rows of one pooled table: per image, per breast (mammography), per patient."""
    from breastbench.metrics import metrics_from_predictions, patient_level, pooled_oof_metrics

    notes: list[str] = []
    rows = [{"level": "image", "n": len(both), **pooled_oof_metrics(both, warnings_out=notes)}]
    if "laterality" in both.columns and both["laterality"].notna().all():
        # mammography: one decision per breast (patient + laterality), as Mammo-CLIP does
        from breastbench.metrics.breast import aggregate_per_breast

        breasts = aggregate_per_breast(both)
        rows.append(
            {
                "level": "breast",
                "n": len(breasts),
                **metrics_from_predictions(breasts, warnings_out=notes),
            }
        )
    try:
        per_patient = patient_level(both, warnings_out=notes)
    except UserError:
        return rows  # a patient with several labels (subtype tasks): no patient level
    rows.append({"level": "patient", "n": int(both["patient_id"].nunique()), **per_patient})
    return rows


def pooled(runs: list[StoredRun]) -> pd.DataFrame:
    """Pooled out-of-fold metrics per cross-validated configuration (descriptive only).

    With support draws, each draw's folds are pooled on their own and the metrics are averaged
    over draws, so no number is an ensemble of replicates' predictions.
    """
    by_cfg: dict[RunKey, list[StoredRun]] = {}
    for r in runs:
        if r.key.fold is not None:
            by_cfg.setdefault(r.key.config, []).append(r)
    rows = []
    for cfg, group in sorted(by_cfg.items()):
        by_draw: dict = {}
        for r in group:
            by_draw.setdefault(r.key.draw, []).append(r)
        per_draw = [_pooled_levels(_concat(g)) for _, g in sorted(by_draw.items(), key=str)]
        k = len({r.key.fold for r in group})
        note = POOLED_NOTE.format(k=k)
        if len(per_draw) > 1:
            note += f"; mean over {len(per_draw)} support draws, each pooled on its own"
        base = {"config_id": cfg.run_id, **_cfg_fields(cfg)}
        for level_rows in zip(*per_draw):
            mean = pd.DataFrame(list(level_rows)).drop(columns=["level"]).mean(numeric_only=True)
            row = {**base, "level": level_rows[0]["level"], **mean.to_dict()}
            row["n"] = int(level_rows[0]["n"])
            row["n_draws"] = len(per_draw)
            row["description"] = note
            rows.append(row)
    return pd.DataFrame(rows)


# -- pairs -----------------------------------------------------------------------------------
def _matches(cfg: RunKey, sel: dict) -> bool:
    """``cfg`` matches ``sel``; label-efficiency configurations only when ``sel`` names shots."""
    if cfg.shots is not None and "shots" not in sel:
        return False
    return all(getattr(cfg, k) == v or str(getattr(cfg, k)) == str(v) for k, v in sel.items())


def _subset(cfg: RunKey) -> tuple:
    return tuple(getattr(cfg, f) for f in SUBSET_FIELDS)


def select_pairs(
    configs: list[RunKey], spec: CompareSpec, order: list[RunKey] | None = None
) -> tuple[list[tuple[RunKey, RunKey, str, str]], list[str]]:
    """(a, b, pair label, reference label) for every comparison ``spec`` asks for; notes.

    The reference label is ``config_label(b)`` when b is the reference a is compared with, and
    empty for an explicit pair. ``order`` is the grid's order of configurations (the default
    reference of a subset is its first configuration there).
    """
    out: list[tuple[RunKey, RunKey, str, str]] = []
    notes: list[str] = []
    configs = sorted(configs)
    if spec.reference is not None:
        sel = selector(spec.reference, "compare.reference")
        held = [f for f in CONFIG_FIELDS if f not in sel]
        label = f"vs {_sel_text(sel)}"
        found = 0
        for b in configs:
            if not _matches(b, sel):
                continue
            for a in configs:
                if a != b and a.shots is None and all(getattr(a, f) == getattr(b, f) for f in held):
                    if not _matches(a, sel):
                        out.append((a, b, label, config_label(b)))
                        found += 1
        if not found:
            notes.append(f"compare.reference ({_sel_text(sel)}) matched no pair of configurations")
    elif not spec.pairs:
        rank = {k: i for i, k in enumerate(dict.fromkeys(order or []))}
        plain = [c for c in configs if c.shots is None]
        subsets: dict[tuple, list[RunKey]] = {}
        for c in plain:
            subsets.setdefault(_subset(c), []).append(c)
        for members in subsets.values():
            members = sorted(members, key=lambda c: (rank.get(c, len(rank)), c))
            ref = members[0]
            for a in members[1:]:
                out.append((a, ref, "vs the subset's first configuration", config_label(ref)))
        for a, b in itertools.combinations(plain, 2):
            if _text_only(a, b):  # text-conditioned vs its image-only twin, per model and mode
                a, b = (a, b) if a.text is not None else (b, a)
                out.append((a, b, "text context vs image-only", ""))
    for i, (raw_a, raw_b) in enumerate(spec.pairs or []):
        sa, sb = (
            selector(raw_a, f"compare.pairs[{i}][0]"),
            selector(raw_b, f"compare.pairs[{i}][1]"),
        )
        held = [f for f in CONFIG_FIELDS if f not in sa and f not in sb]
        label = f"{_sel_text(sa)} vs {_sel_text(sb)}"
        found = 0
        for a in configs:
            if not _matches(a, sa):
                continue
            for b in configs:
                if b != a and _matches(b, sb) and all(getattr(a, f) == getattr(b, f) for f in held):
                    out.append((a, b, label, ""))
                    found += 1
        if not found:
            notes.append(f"compare.pairs[{i}] ({label}) matched no pair of configurations")
    seen: set = set()
    unique = []
    for a, b, label, ref in out:
        if (a, b) not in seen and (b, a) not in seen:
            seen.add((a, b))
            unique.append((a, b, label, ref))
    return unique, notes


def _text_only(a: RunKey, b: RunKey) -> bool:
    """The same configuration except one is image-only and the other text-conditioned."""
    same = all(getattr(a, f) == getattr(b, f) for f in CONFIG_FIELDS if f != "text")
    return same and (a.text is None) != (b.text is None)


def _sel_text(sel: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sel.items())


def config_label(cfg: RunKey) -> str:
    """Short human label: ``ResNet34 (finetune, aug off)`` plus text context and shots."""
    parts = [cfg.mode, f"aug {cfg.augmentation}"]
    if cfg.text:
        parts.append(f"text {cfg.text}")
    if cfg.shots is not None:
        parts.append("all shots" if cfg.shots == "all" else f"{cfg.shots} shots")
    return f"{cfg.model} ({', '.join(parts)})"


def pair_labels(a: RunKey, b: RunKey) -> tuple[str, str]:
    """Labels of a and b, with the dataset, magnification or test set where they differ."""
    la, lb = config_label(a), config_label(b)
    extra_a, extra_b = [], []
    if a.dataset != b.dataset:
        extra_a.append(a.dataset)
        extra_b.append(b.dataset)
    if a.magnification != b.magnification:
        extra_a.append(f"{a.magnification}x" if a.magnification else "all magnifications")
        extra_b.append(f"{b.magnification}x" if b.magnification else "all magnifications")
    if a.external != b.external:
        extra_a.append(f"test {a.external or 'CV'}")
        extra_b.append(f"test {b.external or 'CV'}")
    if extra_a:
        la, lb = f"{la} [{', '.join(extra_a)}]", f"{lb} [{', '.join(extra_b)}]"
    return la, lb


def subset_label(a: RunKey, b: RunKey) -> str:
    """The fields both sides share, e.g. ``breakhis 40x`` or ``breakhis→bach``."""
    parts = []
    if a.dataset == b.dataset:
        parts.append(
            a.dataset + (f"→{a.external}" if a.external and a.external == b.external else "")
        )
    if a.magnification == b.magnification:
        parts.append(f"{a.magnification}x" if a.magnification else "all magnifications")
    if a.augmentation == b.augmentation:
        parts.append(f"aug {a.augmentation}")
    return ", ".join(parts)


# -- tests -----------------------------------------------------------------------------------
def _units(group: list[StoredRun]) -> dict[tuple, list[StoredRun]]:
    out: dict[tuple, list[StoredRun]] = {}
    for r in group:
        out.setdefault(unit_of(r.key), []).append(r)
    return out


def _replicate_test(ga: list[StoredRun], gb: list[StoredRun], metric: str) -> dict | None:
    """Wilcoxon signed-rank over the independent units both have (draws averaged first)."""
    from breastbench.metrics import wilcoxon_folds

    sa, sb = unit_values(ga, metric), unit_values(gb, metric)
    shared = sorted(set(sa) & set(sb))
    if len(shared) < 2:
        return None
    res = wilcoxon_folds([sa[k] for k in shared], [sb[k] for k in shared])
    unit = unit_name(shared)
    return {
        "test": "wilcoxon",
        "unit": unit,
        "n": len(shared),
        "replicates": len(shared),
        "replicate_unit": unit,
        "statistic": res["statistic"],
        "p": res["p"],
        "effect": res["effect"],
        "ci_low": np.nan,
        "ci_high": np.nan,
        "value_a": float(np.mean([sa[k] for k in shared])),
        "value_b": float(np.mean([sb[k] for k in shared])),
        "note": f"Wilcoxon signed-rank over {len(shared)} paired {unit} (draws averaged within "
        f"their fold first; exact p; smallest attainable p {res['min_p']:.4g}); effect = median "
        f"difference. {res['note']}".strip(),
    }


def _aligned(run: StoredRun, order: pd.Index, targets: np.ndarray) -> pd.DataFrame:
    df = run.predictions.drop_duplicates("image_id").set_index("image_id")
    if set(df.index) != set(order) or len(df) != len(order):
        raise UserError(
            f"{run.run_id} was scored on other images than its counterpart; compare runs on the "
            "same folds and test set"
        )
    df = df.loc[order]
    if (df["target"].to_numpy() != targets).any():
        raise UserError(f"{run.run_id} disagrees with its counterpart on some true labels")
    return df


def _fold_aware_test(
    ga: list[StoredRun], gb: list[StoredRun], metric: str, classes: list[str], spec, n_boot: int
) -> dict | None:
    """The fold-aware bootstrap: within-unit differences, patients resampled within folds."""
    from breastbench.metrics.classification import probabilities_from_predictions
    from breastbench.metrics.stats import fold_aware_bootstrap

    ua, ub = _units(ga), _units(gb)
    shared = sorted(set(ua) & set(ub))
    if not shared:
        return None
    reference: dict[tuple, tuple[pd.Index, np.ndarray, np.ndarray]] = {}
    units = []
    for u in shared:
        stratum = _stratum(u)
        if stratum not in reference:
            first = ua[u][0].predictions.drop_duplicates("image_id").set_index("image_id")
            first = first.sort_index()
            groups = (
                first["patient_id"].astype(str).to_numpy()
                if spec.unit == "patient" and "patient_id" in first.columns
                else np.arange(len(first)).astype(str)
            )
            reference[stratum] = (first.index, first["target"].to_numpy().astype(int), groups)
        order, y, groups = reference[stratum]
        probs = {
            side: [
                probabilities_from_predictions(_aligned(r, order, y), classes)
                for r in sorted(runs[u], key=lambda r: r.key)
            ]
            for side, runs in (("a", ua), ("b", ub))
        }
        units.append(
            {
                "stratum": stratum,
                "y": y,
                "groups": groups,
                "probs_a": probs["a"],
                "probs_b": probs["b"],
            }
        )
    r = fold_aware_bootstrap(units, metric, classes, n_boot, spec.seed, alpha=spec.alpha)
    unit = unit_name(shared)
    what = "patients" if spec.unit == "patient" else "images"
    return {
        "test": "bootstrap",
        "unit": what,
        "n": int(r["n_groups"]),
        "replicates": int(r["n_units"]),
        "replicate_unit": unit,
        "statistic": r["difference"],
        "p": r["p"],
        "effect": r["difference"],
        "ci_low": r["ci_low"],
        "ci_high": r["ci_high"],
        "value_a": r["value_a"],
        "value_b": r["value_b"],
        "note": f"fold-aware paired bootstrap: mean over {r['n_units']} {unit} of the "
        f"within-{unit[:-1]} difference (draws averaged within their fold), {r['n_boot']} "
        f"resamples of {r['n_groups']} {what} ({r['n_images']} images) drawn within each "
        f"{'fold' if unit == 'folds' else 'test set'} and class, seed {spec.seed}; smallest "
        f"attainable p {r['min_p']:.3g}",
    }


def _adjust(p: np.ndarray, method: str) -> np.ndarray:
    from breastbench.metrics.stats import bonferroni, holm

    if method == "holm":
        return holm(p)
    if method == "bonferroni":
        return bonferroni(p)
    return p.copy()


FAMILY_COLUMNS = {
    "subset": ["subset", "metric", "test"],
    "metric": ["metric", "test"],
    "table": ["test"],
}


def comparisons(
    runs: list[StoredRun], spec: CompareSpec, order: list[RunKey] | None = None
) -> tuple[pd.DataFrame, list[str], dict]:
    """The comparisons table (see the module docstring), notes, and facts for analysis.json."""
    from breastbench.metrics.stats import boot_size_for_family

    by_cfg: dict[RunKey, list[StoredRun]] = {}
    for r in runs:
        by_cfg.setdefault(r.key.config, []).append(r)
    pairs, notes = select_pairs(list(by_cfg), spec, order)
    planned = []
    for a, b, label, ref in pairs:
        classes = by_cfg[a][0].classes
        if classes != by_cfg[b][0].classes:
            notes.append(f"{a.run_id} vs {b.run_id}: different classes, not compared")
            continue
        for metric in spec.metrics or default_metrics(len(classes)):
            planned.append((a, b, label, ref, metric, classes))
    # the largest correction family of the bootstrap sets its resample count
    sizes: dict[tuple, int] = {}
    for a, b, _, _, metric, _ in planned:
        key = {"subset": (subset_label(a, b), metric), "metric": (metric,), "table": ()}[
            spec.family
        ]
        sizes[key] = sizes.get(key, 0) + 1
    largest = max(sizes.values(), default=0)
    n_boot = boot_size_for_family(largest, spec.alpha, spec.n_boot)
    facts = {
        "n_boot": n_boot,
        "largest_family": largest,
        "min_corrected_p": min(1.0, 2.0 * largest / (n_boot + 1)) if largest else None,
        "alpha": spec.alpha,
        "primary": spec.primary,
    }
    rows = []
    for a, b, label, ref, metric, classes in planned:
        ga, gb = by_cfg[a], by_cfg[b]
        la, lb = pair_labels(a, b)
        tests = []
        rep = _replicate_test(ga, gb, metric)
        if rep is not None:
            tests.append(rep)
        try:
            boot = _fold_aware_test(ga, gb, metric, classes, spec, n_boot)
            if boot is not None:
                tests.append(boot)
        except UserError as err:
            notes.append(f"{la} vs {lb} ({metric}): {err}")
        for t in tests:
            rows.append(
                {
                    "pair": label,
                    "subset": subset_label(a, b),
                    "config_a": a.run_id,
                    "config_b": b.run_id,
                    "a": la,
                    "b": lb,
                    "metric": metric,
                    "role": "primary" if t["test"] == spec.primary else "secondary",
                    "reference": ref,
                    **t,
                    "estimate": t["effect"],
                }
            )
    table = pd.DataFrame(rows)
    facts["n_primary"] = 0
    facts["n_significant"] = 0
    if table.empty:
        return table, notes, facts
    table["correction"] = spec.correction
    table["p_adj"] = np.nan
    for _, part in table.groupby(FAMILY_COLUMNS[spec.family], dropna=False):
        table.loc[part.index, "p_adj"] = _adjust(part["p"].to_numpy(float), spec.correction)
    table["alpha"] = spec.alpha
    table["significant"] = (table["p_adj"] < spec.alpha).fillna(False).astype(bool)
    primary = table[table["role"] == "primary"]
    facts["n_primary"] = int(len(primary))
    facts["n_significant"] = int(primary["significant"].sum())
    return table, notes, facts


def analyse(
    folder: RunFolder, spec: CompareSpec | None = None, only: list[str] | None = None
) -> dict:
    """Run the whole analysis (of the runs ``only`` selects); return its tables (not written)."""
    from breastbench.results.calibration import reliability_table
    from breastbench.results.scope import scope

    spec = spec or CompareSpec()
    runs, problems, not_selected = scope(*folder.collect(), only)
    order = [k.config for k in folder.expected_keys() or []]
    comps, notes, facts = comparisons(runs, spec, order)
    return {
        "runs": runs,
        "problems": problems,
        "metrics_by_run": run_table(runs),
        "aggregate": aggregate(runs, problems),
        "pooled": pooled(runs),
        "comparisons": comps,
        "reliability": reliability_table(runs, config_label),
        "notes": notes,
        "facts": facts,
        "spec": spec,
        "only": list(only or []),
        "not_selected": not_selected,
    }


SUMMARY_TABLES = ("metrics_by_run", "aggregate", "pooled", "comparisons", "reliability")


def write_summary(
    out_dir: str | Path, spec: CompareSpec | None = None, only: list[str] | None = None
) -> dict:
    """Analyse ``out_dir`` (the runs ``only`` selects) and write ``summary/``; return it."""
    folder = RunFolder(out_dir)
    result = analyse(folder, spec or spec_of(folder), only)
    summary = folder.summary_dir
    for name in SUMMARY_TABLES:
        path = summary / f"{name}.csv"
        df = result[name]
        if df.empty:
            path.unlink(missing_ok=True)
            continue
        jsonio.atomic_write_csv(df, path)
    from breastbench.results.robustness import write_robustness

    write_robustness(folder, result["runs"])
    spec = result["spec"]
    facts = result["facts"]
    notes = list(result["notes"])
    if facts["largest_family"]:
        notes.append(
            f"Bootstrap tests use {facts['n_boot']} resamples: the largest correction family "
            f"has {facts['largest_family']} comparisons, so the smallest attainable corrected "
            f"p-value is {facts['min_corrected_p']:.3g} (< alpha = {spec.alpha:g}). "
            f"{facts['n_significant']} of {facts['n_primary']} primary comparisons are "
            f"significant after {spec.correction} correction."
        )
    jsonio.write_json(
        summary / "analysis.json",
        {
            "compare": asdict(spec),
            "default_pairs": not spec.pairs and spec.reference is None,
            "bootstrap": facts,
            "notes": notes,
            "problems": [{"run_id": p.name, "reason": p.reason} for p in result["problems"]],
            "n_runs": len(result["runs"]),
            "only": result["only"],
            "not_selected": result["not_selected"],
        },
    )
    return result


def spec_of(folder: RunFolder) -> CompareSpec:
    """The ``compare:`` section of the folder's saved experiment.yaml (default when absent)."""
    import yaml

    from breastbench.schema import from_dict

    try:
        raw = yaml.safe_load(folder.config_path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return CompareSpec()
    section = raw.get("compare") if isinstance(raw, dict) else None
    if isinstance(section, list):
        section = {"pairs": section}
    return from_dict(CompareSpec, section or {}, "compare")
