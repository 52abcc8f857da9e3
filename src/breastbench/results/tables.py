"""The analysis' per-run and per-configuration tables, and the replicate hierarchy.

``metrics_by_run.csv`` (:func:`run_table`), ``aggregate.csv`` (:func:`aggregate`: mean, sample
std and interval over independent units, a unit being a fold or a seed with its support draws
averaged first) and ``pooled.csv`` (:func:`pooled`, descriptive). See
:mod:`breastbench.results.analysis` for the whole summary.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pandas as pd

from breastbench.errors import UserError
from breastbench.results.key import RunKey
from breastbench.results.stored import Problem, StoredRun

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


def stratum(unit: tuple) -> tuple:
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
