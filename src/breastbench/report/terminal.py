"""A short rich table of a run folder for the terminal (what ``breastbench demo`` prints).

One row per configuration: folds, accuracy and the task's headline score (AUC for binary
tasks, quadratic-weighted kappa for multi-class ones) as mean ± std, with gaps in red.
"""

from __future__ import annotations

import os

from rich.table import Table

from breastbench.report.collect import collect_runs
from breastbench.report.summary import summarize
from breastbench.report.tables import fmt_mean_std

HEADLINE = (("auc", "AUC"), ("kappa_quadratic", "QWK"), ("auc_ovr_macro", "AUC"))


def _cell(summary, metric: str) -> str:
    if not summary.runs:
        return "[red]missing[/red]"
    if metric not in summary.mean:
        return "–"
    return fmt_mean_std(summary.mean[metric], summary.std[metric])


def summary_table(run_dir: str | os.PathLike) -> Table:
    """Rich table of every configuration in ``run_dir`` with mean ± std over folds."""
    summaries = summarize(collect_runs(run_dir))
    table = Table(title=f"breastbench results: {run_dir}", show_lines=False)
    for name in ("dataset", "mag", "model", "mode", "aug", "folds", "accuracy", "score"):
        table.add_column(name, justify="right" if name in ("accuracy", "score") else "left")
    for s in summaries:
        metric, label = next(((m, lab) for m, lab in HEADLINE if m in s.mean), ("auc", "AUC"))
        folds = s.folds_label if not s.missing else f"[red]{s.folds_label}[/red]"
        dataset = s.dataset + (f" → {s.external}" if s.external else "")
        table.add_row(
            dataset,
            s.mag_label,
            s.model,
            s.mode_label,
            s.aug_label,
            folds,
            _cell(s, "accuracy"),
            f"{label} {_cell(s, metric)}",
        )
    return table
