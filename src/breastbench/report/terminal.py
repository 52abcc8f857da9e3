"""A short rich table of a run folder for the terminal (what ``breastbench demo`` prints).

One row per configuration: folds, accuracy and the task's headline score (AUC for binary
tasks, quadratic-weighted kappa for multi-class ones) as mean ± std, with gaps in red.
"""

from __future__ import annotations

import os

from rich import box
from rich.markup import escape
from rich.table import Table

from breastbench.report.collect import collect_runs
from breastbench.report.summary import summarize

HEADLINE = (("auc", "AUC"), ("kappa_quadratic", "QWK"), ("auc_ovr_macro", "AUC"))


def _cell(summary, metric: str) -> str:
    if not summary.runs:
        return "[red]missing[/red]"
    if metric not in summary.mean:
        return "–"
    mean, std = summary.mean[metric], summary.std[metric]
    # compact, so the table fits an 80-column terminal (the report has 4 decimals)
    return f"{mean:.3f}" if std != std else f"{mean:.3f}±{std:.3f}"


def summary_table(run_dir: str | os.PathLike, collection=None) -> Table:
    """Rich table of every configuration in ``run_dir`` with mean ± std over folds."""
    summaries = summarize(collection or collect_runs(run_dir))
    scores = [
        next(((m, lab) for m, lab in HEADLINE if m in s.mean), ("auc", "AUC")) for s in summaries
    ]
    labels = {lab for _, lab in scores}
    score_name = labels.pop() if len(labels) == 1 else "AUC/QWK"
    table = Table(
        title=escape(f"results: {run_dir}"),
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        collapse_padding=True,
    )
    for name in ("dataset", "mag", "model", "mode", "aug", "folds", "accuracy", score_name):
        numeric = name in ("accuracy", score_name)
        # only the dataset column wraps, so every number stays on one line
        table.add_column(
            name,
            justify="right" if numeric else "left",
            no_wrap=name != "dataset",
            overflow="fold" if name == "dataset" else "ellipsis",
            min_width=8 if name == "dataset" else None,
        )
    for s, (metric, _) in zip(summaries, scores):
        folds = s.folds_label if not s.missing else f"[red]{s.folds_label}[/red]"
        dataset = s.dataset + (f"→{s.external}" if s.external else "")
        mode = s.mode_label + (f" ({s.shots}-shot)" if s.shots is not None else "")
        cells = (s.mag_label, escape(s.model_label), escape(mode), escape(s.aug_label), folds)
        table.add_row(escape(dataset), *cells, _cell(s, "accuracy"), _cell(s, metric))
    return table
