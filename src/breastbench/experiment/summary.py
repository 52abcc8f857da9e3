"""End-of-run summary: per-run metrics, mean +- std per configuration, paired comparisons.

Everything is recomputed from the run folders' ``predictions.csv`` files, never from state
held in memory, so the summary of a resumed experiment equals that of an uninterrupted one.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import pandas as pd
from rich.table import Table

from breastbench.experiment.config import ExperimentConfig

ID_COLS = ["dataset", "magnification", "model", "model_label", "mode", "augmentation", "external"]
HEADLINE = {
    2: ["accuracy", "precision", "recall", "f1", "auc"],
    0: ["accuracy", "f1_macro", "kappa_quadratic", "auc_ovr_macro"],
}


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


def write_summary(out_dir: Path, cfg: ExperimentConfig | None = None) -> Table:
    """Write ``summary/*.csv`` and return a rich table of mean +- std per configuration."""
    from breastbench.metrics import aggregate_folds

    table, preds = load_run_table(out_dir)
    summary = out_dir / "summary"
    summary.mkdir(exist_ok=True)
    rich_table = Table(title="mean ± std over folds")
    if table.empty:
        return rich_table
    _atomic_csv(table, summary / "metrics_by_run.csv")
    by = ["config_key", *ID_COLS]
    agg = aggregate_folds(
        table.drop(columns=["run_id", "n_classes"]).fillna({"external": ""}), by=by
    )
    _atomic_csv(agg, summary / "aggregate.csv")
    binary = int(table["n_classes"].max()) == 2
    metrics = HEADLINE[2 if binary else 0]
    comp = pairwise(table, preds, "auc" if binary else "auc_ovr_macro")
    if not comp.empty:
        _atomic_csv(comp, summary / "comparisons.csv")
    for col in ["configuration", "n", *metrics]:
        rich_table.add_column(col, justify="left" if col == "configuration" else "right")
    for key, sub in agg.groupby("config_key", sort=True):
        vals = sub.set_index("metric")
        cells = [
            f"{vals.loc[m, 'mean']:.3f} ± {vals.loc[m, 'std']:.3f}" if m in vals.index else "-"
            for m in metrics
        ]
        rich_table.add_row(key, str(int(vals["n"].max())), *cells)
    return rich_table


def _atomic_csv(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    df.to_csv(tmp, index=False)
    os.replace(tmp, path)
