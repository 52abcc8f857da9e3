"""The one analysis of a run folder: per-run metrics, mean ± std, pooled metrics, comparisons.

Run once after the grid (``breastbench run``) and by ``breastbench report``; it reads only the
run folders' files and writes ``summary/``:

- ``metrics_by_run.csv``: one row per complete run (key fields + every metric);
- ``aggregate.csv``: per configuration and metric, mean, sample std (ddof=1), n and a 95% t
  interval over its replicates (folds; training seeds of an external validation; folds x
  support draws of a label-efficiency run), and n_expected;
- ``pooled.csv``: per cross-validated configuration, metrics over the pooled out-of-fold
  predictions, per image and per patient;
- ``comparisons.csv``: the only comparisons table, pairs chosen by ``compare:``
  (:mod:`breastbench.results.spec`), two tests per pair and metric (Wilcoxon over replicates;
  a pooled test resampling the ``unit``), corrected within the chosen family;
- ``analysis.json``: the compare spec used, notes and problems.

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


def aggregate(runs: list[StoredRun], problems: list[Problem]) -> pd.DataFrame:
    """Mean, sample std (ddof=1) and n per configuration and metric; n_expected with gaps."""
    by_cfg: dict[RunKey, list[StoredRun]] = {}
    for r in runs:
        by_cfg.setdefault(r.key.config, []).append(r)
    missing: dict[RunKey, int] = {}
    for p in problems:
        if p.key is not None:
            missing[p.key.config] = missing.get(p.key.config, 0) + 1
    rows = []
    for cfg in sorted(set(by_cfg) | set(missing)):
        group = by_cfg.get(cfg, [])
        desc = _describe(group[0]) if group else dict.fromkeys(DESCRIPTIVE, "")
        base = {"config_id": cfg.run_id, **_cfg_fields(cfg), **desc}
        n_expected = len(group) + missing.get(cfg, 0)
        names = sorted({k for r in group for k in r.metrics})
        if not names:
            rows.append(
                {
                    **base,
                    "metric": "",
                    "mean": np.nan,
                    "std": np.nan,
                    "n": 0,
                    "n_expected": n_expected,
                }
            )
        for name in names:
            values = np.array([r.metrics[name] for r in group if name in r.metrics], float)
            values = values[~np.isnan(values)]
            lo, hi = _t_interval(values)
            rows.append(
                {
                    **base,
                    "metric": name,
                    "mean": float(values.mean()) if len(values) else np.nan,
                    "std": float(values.std(ddof=1)) if len(values) > 1 else np.nan,
                    "n": int(len(values)),
                    "ci_low": lo,
                    "ci_high": hi,
                    "n_expected": n_expected,
                }
            )
    return pd.DataFrame(rows)


def _t_interval(values: np.ndarray) -> tuple[float, float]:
    """95% t interval of the mean over replicates (folds x draws); NaN with fewer than 2."""
    if len(values) < 2:
        return np.nan, np.nan
    from scipy import stats

    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean() - half), float(values.mean() + half)


def _cfg_fields(cfg: RunKey) -> dict:
    return {k: v for k, v in cfg.to_dict().items() if k in CONFIG_FIELDS}


def _pooled_predictions(group: list[StoredRun]) -> pd.DataFrame:
    """One prediction per image: CV folds concatenated; seeds or draws averaged per image."""
    frames = [r.predictions for r in sorted(group, key=lambda r: r.key)]
    both = pd.concat(frames, ignore_index=True)
    both.attrs = dict(frames[0].attrs)
    if not both["image_id"].duplicated().any():  # folds partition the images
        return both
    classes = group[0].classes
    prob_cols = [c for c in both.columns if c.startswith("prob_")]
    first = both.drop_duplicates("image_id").set_index("image_id")
    mean = both.groupby("image_id")[prob_cols].mean()
    out = first.drop(columns=prob_cols).join(mean).reset_index()
    out.attrs = dict(frames[0].attrs, classes=classes)
    return out


def pooled(runs: list[StoredRun]) -> pd.DataFrame:
    """Pooled out-of-fold metrics per cross-validated configuration, per image and patient."""
    from breastbench.metrics import patient_level, pooled_oof_metrics

    by_cfg: dict[RunKey, list[StoredRun]] = {}
    for r in runs:
        if r.key.fold is not None:
            by_cfg.setdefault(r.key.config, []).append(r)
    rows = []
    for cfg, group in sorted(by_cfg.items()):
        both = _pooled_predictions(group)
        base = {"config_id": cfg.run_id, **_cfg_fields(cfg)}
        notes: list[str] = []
        rows.append(
            {
                **base,
                "level": "image",
                "n": len(both),
                **pooled_oof_metrics(both, warnings_out=notes),
            }
        )
        if "laterality" in both.columns and both["laterality"].notna().all():
            # mammography: one decision per breast (patient + laterality), as Mammo-CLIP does
            from breastbench.metrics import metrics_from_predictions
            from breastbench.metrics.breast import aggregate_per_breast

            breasts = aggregate_per_breast(both)
            rows.append(
                {
                    **base,
                    "level": "breast",
                    "n": len(breasts),
                    **metrics_from_predictions(breasts, warnings_out=notes),
                }
            )
        try:
            per_patient = patient_level(both, warnings_out=notes)
        except UserError:
            continue  # a patient with several labels (subtype tasks): no patient level
        rows.append(
            {**base, "level": "patient", "n": int(both["patient_id"].nunique()), **per_patient}
        )
    return pd.DataFrame(rows)


# -- pairs -----------------------------------------------------------------------------------
def _matches(cfg: RunKey, sel: dict) -> bool:
    return all(getattr(cfg, k) == v or str(getattr(cfg, k)) == str(v) for k, v in sel.items())


def select_pairs(
    configs: list[RunKey], spec: CompareSpec
) -> tuple[list[tuple[RunKey, RunKey, str]], list[str]]:
    """(a, b, pair label) for every comparison ``spec`` asks for; notes for unmatched pairs."""
    out: list[tuple[RunKey, RunKey, str]] = []
    notes: list[str] = []
    configs = sorted(configs)
    if not spec.pairs:
        # label-efficiency points are summarised by their intervals, not paired by default
        for a, b in itertools.combinations([c for c in configs if c.shots is None], 2):
            if all(getattr(a, f) == getattr(b, f) for f in SUBSET_FIELDS):
                out.append((a, b, "all pairs per subset"))
            elif _text_only(a, b):  # image-only vs text-conditioned, per model and mode
                out.append((a, b, "image-only vs text context"))
        return out, notes
    for i, (raw_a, raw_b) in enumerate(spec.pairs):
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
                    out.append((a, b, label))
                    found += 1
        if not found:
            notes.append(f"compare.pairs[{i}] ({label}) matched no pair of configurations")
    return list(dict.fromkeys(out)), notes


def _text_only(a: RunKey, b: RunKey) -> bool:
    """The same configuration except one is image-only and the other text-conditioned."""
    same = all(getattr(a, f) == getattr(b, f) for f in CONFIG_FIELDS if f != "text")
    return same and (a.text is None) != (b.text is None)


def _sel_text(sel: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sel.items())


def config_label(cfg: RunKey) -> str:
    """Short human label: ``ResNet34 (finetune, aug off)`` plus text and test set."""
    parts = [cfg.mode, f"aug {cfg.augmentation}"]
    if cfg.text:
        parts.append(f"text {cfg.text}")
    return f"{cfg.model} ({', '.join(parts)})"


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
def _replicate_test(ga: list[StoredRun], gb: list[StoredRun], metric: str) -> dict | None:
    from breastbench.metrics import wilcoxon_folds

    sa = {r.key.replicate: r.metrics.get(metric, np.nan) for r in ga}
    sb = {r.key.replicate: r.metrics.get(metric, np.nan) for r in gb}
    shared = sorted(k for k in set(sa) & set(sb) if not np.isnan(sa[k]) and not np.isnan(sb[k]))
    if len(shared) < 2:
        return None
    res = wilcoxon_folds([sa[k] for k in shared], [sb[k] for k in shared])
    axis = "/".join(n for n, _ in shared[0])
    return {
        "test": "wilcoxon",
        "unit": {"fold": "folds", "seed": "seeds"}.get(axis, f"{axis}s"),
        "n": len(shared),
        "statistic": res["statistic"],
        "p": res["p"],
        "effect": res["effect"],
        "ci_low": np.nan,
        "ci_high": np.nan,
        "value_a": float(np.mean([sa[k] for k in shared])),
        "value_b": float(np.mean([sb[k] for k in shared])),
        "note": f"Wilcoxon signed-rank over {len(shared)} paired {axis}s (exact p; smallest "
        f"attainable p {res['min_p']:.4g}); effect = median difference. {res['note']}".strip(),
    }


def _pooled_test(pa, pb, metric: str, classes: list[str], spec: CompareSpec) -> dict:
    from breastbench.metrics.compare import align_predictions, compare_configs
    from breastbench.metrics.stats import metric_function, paired_bootstrap

    if spec.unit == "image":
        row = compare_configs(
            pa, pb, metric, test="auto", classes=classes, n_boot=spec.n_boot, seed=spec.seed
        )
        row["unit"] = "images"
        return row
    a, b = align_predictions(pa, pb)
    y = a["target"].to_numpy().astype(int)
    from breastbench.metrics.classification import probabilities_from_predictions

    prob_a = probabilities_from_predictions(a, classes)
    prob_b = probabilities_from_predictions(b, classes)
    groups = a["patient_id"].astype(str).to_numpy()
    r = paired_bootstrap(
        y, prob_a, prob_b, metric, spec.n_boot, spec.seed, classes=classes, groups=groups
    )
    value = metric_function(metric, classes)
    return {
        "test": "bootstrap",
        "unit": "patients",
        "n": int(r["n_groups"]),
        "statistic": r["difference"],
        "p": r["p"],
        "effect": r["difference"],
        "ci_low": r["ci_low"],
        "ci_high": r["ci_high"],
        "value_a": value(y, prob_a),
        "value_b": value(y, prob_b),
        "note": f"paired bootstrap, {r['n_boot']} resamples of {r['n_groups']} patients "
        f"({len(y)} images), seed {spec.seed}",
    }


def _adjust(p: np.ndarray, method: str) -> np.ndarray:
    from breastbench.metrics import holm

    if method == "holm":
        return holm(p)
    if method == "bonferroni":
        return np.minimum(p * len(p), 1.0)
    return p.copy()


def comparisons(runs: list[StoredRun], spec: CompareSpec) -> tuple[pd.DataFrame, list[str]]:
    """The comparisons table (see the module docstring) and notes on skipped pairs."""
    by_cfg: dict[RunKey, list[StoredRun]] = {}
    for r in runs:
        by_cfg.setdefault(r.key.config, []).append(r)
    pairs, notes = select_pairs(list(by_cfg), spec)
    rows = []
    for a, b, label in pairs:
        ga, gb = by_cfg[a], by_cfg[b]
        classes = ga[0].classes
        if classes != gb[0].classes:
            notes.append(f"{a.run_id} vs {b.run_id}: different classes, not compared")
            continue
        # pooled predictions on the replicates both configurations have
        shared = {r.key.replicate for r in ga} & {r.key.replicate for r in gb}
        pa = _pooled_predictions([r for r in ga if r.key.replicate in shared])
        pb = _pooled_predictions([r for r in gb if r.key.replicate in shared])
        for metric in spec.metrics or default_metrics(len(classes)):
            tests = []
            rep = _replicate_test(ga, gb, metric)
            if rep is not None:
                tests.append(rep)
            try:
                tests.append(_pooled_test(pa, pb, metric, classes, spec))
            except UserError as err:
                notes.append(f"{config_label(a)} vs {config_label(b)} ({metric}): {err}")
            for t in tests:
                rows.append(
                    {
                        "pair": label,
                        "subset": subset_label(a, b),
                        "config_a": a.run_id,
                        "config_b": b.run_id,
                        "a": config_label(a),
                        "b": config_label(b),
                        "metric": metric,
                        **t,
                    }
                )
    table = pd.DataFrame(rows)
    if table.empty:
        return table, notes
    family = {
        "subset": ["subset", "metric", "test"],
        "metric": ["metric", "test"],
        "table": ["test"],
    }[spec.family]
    table["correction"] = spec.correction
    table["p_adj"] = np.nan
    for _, part in table.groupby(family, dropna=False):
        table.loc[part.index, "p_adj"] = _adjust(part["p"].to_numpy(float), spec.correction)
    return table, notes


def analyse(
    folder: RunFolder, spec: CompareSpec | None = None, only: list[str] | None = None
) -> dict:
    """Run the whole analysis (of the runs ``only`` selects); return its tables (not written)."""
    from breastbench.results.scope import scope

    spec = spec or CompareSpec()
    runs, problems, not_selected = scope(*folder.collect(), only)
    comps, notes = comparisons(runs, spec)
    return {
        "runs": runs,
        "problems": problems,
        "metrics_by_run": run_table(runs),
        "aggregate": aggregate(runs, problems),
        "pooled": pooled(runs),
        "comparisons": comps,
        "notes": notes,
        "spec": spec,
        "only": list(only or []),
        "not_selected": not_selected,
    }


def write_summary(
    out_dir: str | Path, spec: CompareSpec | None = None, only: list[str] | None = None
) -> dict:
    """Analyse ``out_dir`` (the runs ``only`` selects) and write ``summary/``; return it."""
    folder = RunFolder(out_dir)
    result = analyse(folder, spec or spec_of(folder), only)
    summary = folder.summary_dir
    for name in ("metrics_by_run", "aggregate", "pooled", "comparisons"):
        path = summary / f"{name}.csv"
        df = result[name]
        if df.empty:
            path.unlink(missing_ok=True)
            continue
        jsonio.atomic_write_csv(df, path)
    from breastbench.results.robustness import write_robustness

    write_robustness(folder, result["runs"])
    jsonio.write_json(
        summary / "analysis.json",
        {
            "compare": asdict(result["spec"]),
            "default_pairs": not result["spec"].pairs,
            "notes": result["notes"],
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

    from breastbench.experiment.schema import from_dict

    try:
        raw = yaml.safe_load(folder.config_path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return CompareSpec()
    section = raw.get("compare") if isinstance(raw, dict) else None
    if isinstance(section, list):
        section = {"pairs": section}
    return from_dict(CompareSpec, section or {}, "compare")
