"""A short rich table of a run folder for the terminal (what ``breastbench demo`` prints).

One row per configuration: folds, accuracy and the task's headline score (AUC for binary
tasks, quadratic-weighted kappa for multi-class ones) as mean ± std, with gaps in red.
Where the table does not fit (an 80-column terminal, long sweep labels) :func:`results_view`
prints each configuration as two lines instead, so no label or value is ever cut to "…";
:func:`write_table` keeps the whole table in a text file for logs.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from rich import box
from rich.console import Console, Group
from rich.markup import escape
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

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


def _rows(collection) -> tuple[list, str]:
    """(summary, headline metric) per configuration, and the score column's name."""
    summaries = summarize(collection)
    scores = [
        next(((m, lab) for m, lab in HEADLINE if m in s.mean), ("auc", "AUC")) for s in summaries
    ]
    labels = {lab for _, lab in scores}
    score_name = labels.pop() if len(labels) == 1 else "AUC/QWK"
    return [(s, metric) for s, (metric, _) in zip(summaries, scores)], score_name


def _fields(s) -> tuple[str, str]:
    dataset = s.dataset + (f"→{s.external}" if s.external else "")
    mode = s.mode_label + (f" ({s.shots}-shot)" if s.shots is not None else "")
    return dataset, mode


def summary_table(run_dir: str | os.PathLike, collection=None) -> Table:
    """Rich table of every configuration in ``run_dir`` with mean ± std over folds."""
    rows, score_name = _rows(collection or collect_runs(run_dir))
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
    for s, metric in rows:
        folds = s.folds_label if not s.missing else f"[red]{s.folds_label}[/red]"
        dataset, mode = _fields(s)
        # labels are text, not markup: a sweep label's "[lora_r=8]" must not vanish as a tag
        cells = (s.mag_label, escape(s.model_label), escape(mode), escape(s.aug_label), folds)
        table.add_row(escape(dataset), *cells, _cell(s, "accuracy"), _cell(s, metric))
    return table


def compact_view(run_dir: str | os.PathLike, collection=None) -> Group:
    """Two lines per configuration (its label, then its values): fits any width."""
    rows, score_name = _rows(collection or collect_runs(run_dir))
    lines = [Text(f"results: {run_dir}", style="italic")]
    for s, metric in rows:
        dataset, mode = _fields(s)
        label = f"  {dataset} {s.mag_label} {s.model_label} · {mode} · aug {s.aug_label}"
        lines.append(Text(label))
        folds = s.folds_label if not s.missing else f"[red]{s.folds_label}[/red]"
        lines.append(
            Text.from_markup(
                f"      folds {folds}   accuracy {_cell(s, 'accuracy')}   "
                f"{score_name} {_cell(s, metric)}"
            )
        )
    return Group(*lines)


def fits(console: Console, renderable) -> bool:
    """Whether ``renderable`` shows at its natural width on ``console`` (nothing squeezed)."""
    wide = console.options.update_width(10_000)  # measured unclamped, then compared
    return Measurement.get(console, wide, renderable).maximum <= console.width


def results_view(console: Console, run_dir: str | os.PathLike, collection=None):
    """The table where it fits ``console``, otherwise the two-line-per-configuration view."""
    collection = collection or collect_runs(run_dir)
    table = summary_table(run_dir, collection)
    return table if fits(console, table) else compact_view(run_dir, collection)


def write_table(run_dir: str | os.PathLike, collection, path: str | os.PathLike) -> Path:
    """The whole table, unwrapped and without colour, written to ``path`` (for logs)."""
    table = summary_table(run_dir, collection)
    probe = Console(file=io.StringIO(), width=10_000)
    width = Measurement.get(probe, probe.options, table).maximum
    buf = io.StringIO()
    Console(file=buf, width=width, color_system=None, force_terminal=False).print(table)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n".join(line.rstrip() for line in buf.getvalue().splitlines()) + "\n"
    from breastbench import jsonio

    jsonio.atomic_write_text(path, text)
    return path
