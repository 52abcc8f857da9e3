"""End-of-run summary files: per-run metrics, mean +- std per configuration, comparisons.

Everything is recomputed from the run folders' ``predictions.csv`` files, never from state
held in memory, so the summary of a resumed experiment equals that of an uninterrupted one.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import pandas as pd

ID_COLS = ["dataset", "magnification", "model", "model_label", "mode", "augmentation", "external"]


def load_run_table(out_dir: Path) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """One row per complete run (ids + metrics) and the predictions of each run."""
    rows, preds = [], {}
    for d in sorted((out_dir / "runs").glob("*/metrics.json")):
        run = json.loads((d.parent / "run.json").read_text())
        metrics = json.loads(d.read_text())
        rows.append(
            {
                **{k: run.get(k) for k in ID_COLS},
                "fold": run.get("fold"),
                "seed": run.get("seed"),
                "config_key": run["config_key"],
                "run_id": run["run_id"],
                "n_classes": len(run["classes"]),
                **metrics,
            }
        )
        p = pd.read_csv(d.parent / "predictions.csv")
        p.attrs["classes"] = run["classes"]
        preds[run["run_id"]] = p
    return pd.DataFrame(rows), preds


def pairwise(table: pd.DataFrame, preds: dict[str, pd.DataFrame], metric: str) -> pd.DataFrame:
    """Compare every two configurations of one (dataset, magnification, augmentation) subset.

    Two tests per pair: Wilcoxon over fold scores (exact p, with the small-n statement) and the
    pooled out-of-fold test (DeLong for binary AUC); Holm-corrected within each subset.
    """
    from breastbench.metrics import compare_configs, comparison_table

    out = []
    cv = table[table["external"].isna()] if "external" in table else table
    for key, sub in cv.groupby(["dataset", "magnification", "augmentation"], dropna=False):
        configs = sorted(sub["config_key"].unique())
        for a, b in itertools.combinations(configs, 2):
            pa = pd.concat([preds[r] for r in sub[sub.config_key == a]["run_id"]])
            pb = pd.concat([preds[r] for r in sub[sub.config_key == b]["run_id"]])
            pa.attrs = pb.attrs = preds[sub["run_id"].iloc[0]].attrs
            if set(pa["image_id"]) != set(pb["image_id"]):
                continue  # incomplete configuration: nothing honest to compare
            for test in ("wilcoxon", "auto"):
                row = compare_configs(pa, pb, metric, test=test, seed=0)
                out.append(
                    {
                        "dataset": key[0],
                        "magnification": key[1],
                        "augmentation": key[2],
                        "config_a": a,
                        "config_b": b,
                        **row,
                    }
                )
    if not out:
        return pd.DataFrame()
    return comparison_table(out, by=["dataset", "magnification", "augmentation", "test"])


def pooled(table: pd.DataFrame, preds: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Pooled out-of-fold metrics per configuration, per image and per patient.

    Patient level averages each patient's image probabilities first, the unit a clinician
    decides on; it is skipped where a patient carries several labels (subtype tasks).
    """
    from breastbench.errors import UserError
    from breastbench.metrics import patient_level, pooled_oof_metrics

    rows = []
    for key, sub in table.groupby("config_key", sort=True):
        frames = [preds[r] for r in sub["run_id"]]
        both = pd.concat(frames, ignore_index=True)
        both.attrs = dict(frames[0].attrs)
        ids = {c: sub.iloc[0][c] for c in ID_COLS}
        notes: list[str] = []
        rows.append(
            {
                "config_key": key,
                **ids,
                "level": "image",
                "n": len(both),
                **pooled_oof_metrics(both, warnings_out=notes),
            }
        )
        try:
            per_patient = patient_level(both, warnings_out=notes)
        except UserError:
            continue
        rows.append(
            {
                "config_key": key,
                **ids,
                "level": "patient",
                "n": both["patient_id"].nunique(),
                **per_patient,
            }
        )
    return pd.DataFrame(rows)


def write_summary(out_dir: Path) -> None:
    """Write ``summary/metrics_by_run.csv``, ``aggregate.csv`` and ``comparisons.csv``."""
    from breastbench.metrics import aggregate_folds

    table, preds = load_run_table(out_dir)
    if table.empty:
        return
    summary = out_dir / "summary"
    summary.mkdir(exist_ok=True)
    _atomic_csv(table, summary / "metrics_by_run.csv")
    by = ["config_key", *ID_COLS]
    per_run = table.drop(columns=["run_id", "n_classes"]).fillna({"external": ""})
    _atomic_csv(aggregate_folds(per_run, by=by), summary / "aggregate.csv")
    _atomic_csv(pooled(table, preds), summary / "pooled.csv")
    binary = int(table["n_classes"].max()) == 2
    comp = pairwise(table, preds, "auc" if binary else "auc_ovr_macro")
    if not comp.empty:
        _atomic_csv(comp, summary / "comparisons.csv")


def _atomic_csv(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)
