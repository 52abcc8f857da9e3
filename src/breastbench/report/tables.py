"""The result tables in the studies' shapes, built from configuration summaries.

- :func:`results_tables`: per dataset and augmentation setting, model x mode x magnification
  with every metric as mean ± std and the best per metric in bold (Tables 4 and 5).
- :func:`external_table`: external validation (Table 6).
- :func:`density_table`: accuracy, macro-F1, quadratic-weighted kappa and AUC per model x mode
  (the density study).
The pairwise comparison table (Table 7) lives in :mod:`breastbench.report.compare`. A table is
format-free (:class:`Table` of :class:`Cell`); :mod:`breastbench.report.writers` renders it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from breastbench.report.names import problem_name
from breastbench.report.summary import AUG_ORDER, ConfigSummary, lower_is_better

METRIC_LABELS = {
    "accuracy": "Accuracy",
    "precision": "Precision",
    "recall": "Recall",
    "f1": "F1-score",
    "auc": "AUC",
    "specificity": "Specificity",
    "balanced_accuracy": "Balanced acc.",
    "f1_macro": "Macro-F1",
    "macro_f1": "Macro-F1",
    "f1_weighted": "Weighted-F1",
    "kappa_quadratic": "QWK",
    "qwk": "QWK",
    "auc_ovr_macro": "AUC (OvR macro)",
    "ece": "ECE",
    "brier": "Brier",
}
METRIC_ORDER = list(METRIC_LABELS)

# the density study's four columns, each with the names a metrics module may use for it
DENSITY_METRICS = {
    "Accuracy": ("accuracy",),
    "Macro-F1": ("f1_macro", "macro_f1"),
    "QWK": ("kappa_quadratic", "qwk"),
    "AUC": ("auc_ovr_macro", "auc"),
}

MISSING = "missing"


@dataclass
class Cell:
    """One table cell: its text and whether it is the best value of its column."""

    text: str
    bold: bool = False


@dataclass
class Table:
    """A format-free table: a key (file name), a caption, a header and rows of cells."""

    key: str
    caption: str
    header: list[str]
    rows: list[list[Cell]]
    notes: list[str] = field(default_factory=list)
    n_keys: int = 3  # leading label columns (left-aligned in LaTeX)


def metric_label(name: str) -> str:
    """Display name of a metric key (``recall_benign`` -> ``Recall (benign)``)."""
    if name in METRIC_LABELS:
        return METRIC_LABELS[name]
    match = re.match(r"(recall|precision|f1)_(.+)", name)
    if match:
        return f"{METRIC_LABELS[match.group(1)]} ({match.group(2)})"
    return name.replace("_", " ")


def metric_sort_key(name: str) -> tuple:
    """Known metrics in paper order, then per-class ones, then the rest alphabetically."""
    return (METRIC_ORDER.index(name) if name in METRIC_ORDER else len(METRIC_ORDER), name)


def fmt_mean_std(mean: float, std: float) -> str:
    """``0.9512 ± 0.011`` as in the studies; a single fold shows only the mean."""
    if math.isnan(mean):
        return "n/a"
    if math.isnan(std):
        return f"{mean:.4f}"
    return f"{mean:.4f} ± {std:.3f}"


def best_rows(summaries: list[ConfigSummary], metric: str) -> set[int]:
    """Indices of the summaries with the best mean of ``metric`` (ties all count).

    A constant model (one class for every image) is never "best", and neither is anyone when
    every configuration ties (nothing is distinguished).
    """
    values = [
        (i, s.mean[metric])
        for i, s in enumerate(summaries)
        if metric in s.mean and not s.degenerate
    ]
    values = [(i, v) for i, v in values if not math.isnan(v)]
    if not values:
        return set()
    pick = min if lower_is_better(metric) else max
    best = pick(v for _, v in values)
    out = {i for i, v in values if math.isclose(v, best, rel_tol=0, abs_tol=1e-12)}
    return out if len(out) < len(summaries) or len(summaries) == 1 else set()


def _metric_cells(summaries: list[ConfigSummary], metrics: list[str]) -> list[list[Cell]]:
    best = {m: best_rows(summaries, m) for m in metrics}
    rows = []
    for i, s in enumerate(summaries):
        row = []
        for m in metrics:
            if not s.runs:
                row.append(Cell(MISSING))
            elif m not in s.mean:
                row.append(Cell("–"))
            else:
                row.append(Cell(fmt_mean_std(s.mean[m], s.std[m]), i in best[m]))
        rows.append(row)
    return rows


def _metrics_of(summaries: list[ConfigSummary]) -> list[str]:
    names = {k for s in summaries for k in s.mean}
    return sorted(names, key=metric_sort_key)


def _gap_notes(summaries: list[ConfigSummary]) -> list[str]:
    notes = []
    for s in summaries:
        for p in s.missing:
            notes.append(f"{problem_name(p, s.templates)}: {p.reason}")
    constant = [s.name for s in summaries if s.degenerate]
    if constant:
        notes.append(
            "Never marked best (predict one class for every image): " + ", ".join(constant) + "."
        )
    return notes


def results_tables(summaries: list[ConfigSummary]) -> list[Table]:
    """Tables 4 and 5: one table per dataset and augmentation setting (off first)."""
    tables = []
    internal = [s for s in summaries if not s.external and s.shots is None]
    for dataset in sorted({s.dataset for s in internal}):
        presets = sorted(
            {s.augmentation for s in internal if s.dataset == dataset},
            key=lambda a: (AUG_ORDER.get(a, 9), a),
        )
        for aug in presets:
            rows_s = [s for s in internal if s.dataset == dataset and s.augmentation == aug]
            if not rows_s:
                continue
            metrics = _metrics_of(rows_s)
            header = ["Model", "Mode", "Magnification"]
            header += [metric_label(m) for m in metrics] + ["Folds"]
            cells = _metric_cells(rows_s, metrics)
            rows = [
                [
                    Cell(s.model_label),
                    Cell(s.mode_label),
                    Cell(s.mag_label),
                    *c,
                    Cell(s.folds_label),
                ]
                for s, c in zip(rows_s, cells)
            ]
            aug_text = {"off": "without data augmentation", "on": "with data augmentation"}.get(
                aug, f"with the '{aug}' augmentation preset"
            )
            tables.append(
                Table(
                    key=f"results_{_slug(dataset)}_aug-{_slug(aug)}",
                    caption=(
                        f"{dataset}: cross-validation results {aug_text}. "
                        "Mean ± standard deviation over folds (ddof=1); AUC is the mean of "
                        "the per-fold AUCs (not the pooled AUC of the ROC figures); bold marks "
                        "the best value per metric, never a model that predicts one class for "
                        "every image."
                    ),
                    header=header,
                    rows=rows,
                    notes=_gap_notes(rows_s),
                )
            )
    return tables


def external_table(summaries: list[ConfigSummary]) -> Table | None:
    """Table 6: models trained on one dataset, tested unchanged on another."""
    rows_s = [s for s in summaries if s.external]
    if not rows_s:
        return None
    metrics = _metrics_of(rows_s)
    header = ["Model", "Mode", "Trained on", "Tested on", "Augmentation"]
    header += [metric_label(m) for m in metrics] + ["Seeds (n)"]
    cells = _metric_cells(rows_s, metrics)
    rows = [
        [
            Cell(s.model_label),
            Cell(s.mode_label),
            Cell(s.dataset if not s.magnification else f"{s.dataset} {s.mag_label}"),
            Cell(str(s.external)),
            Cell(s.aug_label),
            *c,
            Cell(s.folds_label),
        ]
        for s, c in zip(rows_s, cells)
    ]
    return Table(
        key="external_validation",
        caption=(
            "External validation: models trained on the source dataset and evaluated on the "
            "target dataset without any fine-tuning. Mean ± standard deviation (ddof=1) over "
            "the training seeds (n in the last column); bold marks the best value per metric."
        ),
        header=header,
        rows=rows,
        notes=_gap_notes(rows_s) + _pooled_notes(rows_s),
        n_keys=5,
    )


def _pooled_notes(summaries: list[ConfigSummary]) -> list[str]:
    """What each pooled training set is made of (leave-one-source-out's ``loso-minus-*``)."""
    pooled: dict[str, list[str]] = {}
    for s in summaries:
        for run in s.runs:
            members = (run.info or {}).get("train_members")
            if members:
                pooled.setdefault(s.dataset, list(members))
    return [
        f"{name}: trained on {', '.join(members)} pooled (patient ids kept apart by source)."
        for name, members in sorted(pooled.items())
    ]


def _is_density(s: ConfigSummary) -> bool:
    return "density" in s.task.lower() or "density" in s.dataset.lower()


def _pick(summary: ConfigSummary, names: tuple[str, ...]) -> str | None:
    return next((n for n in names if n in summary.mean), None)


def density_table(summaries: list[ConfigSummary]) -> Table | None:
    """Density study table: accuracy, macro-F1, QWK and AUC per model x mode."""
    rows_s = [s for s in summaries if _is_density(s) and not s.external and s.shots is None]
    if not rows_s:
        return None
    both_aug = len({s.augmentation for s in rows_s}) > 1
    header = ["Dataset", "Model", "Mode"] + (["Augmentation"] if both_aug else [])
    header += list(DENSITY_METRICS) + ["Folds"]
    columns = []  # per display column: the metric key each summary uses for it
    for names in DENSITY_METRICS.values():
        columns.append([_pick(s, names) for s in rows_s])
    rows = [
        [Cell(s.dataset), Cell(s.model_label), Cell(s.mode_label)]
        + ([Cell(s.aug_label)] if both_aug else [])
        for s in rows_s
    ]
    for keys in columns:
        values = [s.mean[k] if k else math.nan for s, k in zip(rows_s, keys)]
        finite = [v for v, s in zip(values, rows_s) if not math.isnan(v) and not s.degenerate]
        best = max(finite) if finite else None
        for row, s, k, v in zip(rows, rows_s, keys, values):
            if not s.runs:
                row.append(Cell(MISSING))
            elif k is None:
                row.append(Cell("–"))
            else:
                bold = best is not None and v == best and not s.degenerate
                row.append(Cell(fmt_mean_std(v, s.std[k]), bold))
    for row, s in zip(rows, rows_s):
        row.append(Cell(s.folds_label))
    return Table(
        key="density",
        caption=(
            "Breast density (BI-RADS A–D): accuracy, macro-F1, quadratic-weighted kappa and "
            "one-vs-rest macro AUC per model and learning mode. Mean ± standard deviation over "
            "folds of the per-fold values; bold marks the best value per column, never a model "
            "that predicts one class for every image."
        ),
        header=header,
        rows=rows,
        notes=_gap_notes(rows_s),
        n_keys=len(header) - len(DENSITY_METRICS) - 1,
    )


def label_efficiency_table(summaries: list[ConfigSummary]) -> Table | None:
    """The learning-curve points: mean, 95% interval and n per model, mode and shot count."""
    rows_s = [s for s in summaries if s.shots is not None and s.runs]
    if not rows_s:
        return None
    metric = next(
        (
            m
            for m in ("auc", "kappa_quadratic", "auc_ovr_macro", "accuracy")
            if any(m in s.mean for s in rows_s)
        ),
        "accuracy",
    )
    order = {k: (k == "all", int(k) if k != "all" else 0) for k in {s.shots for s in rows_s}}
    rows_s = sorted(
        rows_s,
        key=lambda s: (s.dataset, s.magnification or 0, s.model_label, s.mode, order[s.shots]),
    )
    rows = []
    for s in rows_s:
        lo, hi = s.ci.get(metric, (math.nan, math.nan))
        ci = "–" if math.isnan(lo) else f"[{lo:.3f}, {hi:.3f}]"
        rows.append(
            [
                Cell(f"{s.dataset} {s.mag_label}"),
                Cell(s.model_label),
                Cell(s.mode_label),
                Cell(str(s.shots)),
                Cell(f"{s.mean.get(metric, math.nan):.4f}"),
                Cell(ci),
                Cell(str(s.n.get(metric, 0))),
            ]
        )
    return Table(
        key="label_efficiency",
        caption=(
            f"Label efficiency ({metric_label(metric)}): k labelled patients per class drawn "
            "inside each training fold; mean and 95% t interval over folds x support draws, "
            "n = folds x draws that entered."
        ),
        header=["Data", "Model", "Mode", "Patients per class", metric_label(metric), "95% CI", "n"],
        rows=rows,
        n_keys=4,
    )


def trainable_table(summaries: list[ConfigSummary]) -> Table | None:
    """Trainable and total parameters per configuration (the parameter-matching view)."""
    rows_s = [s for s in summaries if not math.isnan(s.trainable_params)]
    if not rows_s:
        return None
    seen: dict[tuple, ConfigSummary] = {}
    for s in rows_s:
        seen.setdefault((s.model_label, s.mode), s)
    rows = []
    for s in sorted(seen.values(), key=lambda s: s.trainable_params):
        share = s.trainable_params / s.total_params if s.total_params else math.nan
        rows.append(
            [
                Cell(s.model_label),
                Cell(s.mode_label),
                Cell(f"{int(s.trainable_params):,}"),
                Cell(f"{int(s.total_params):,}" if not math.isnan(s.total_params) else "–"),
                Cell(f"{100 * share:.2f}%" if not math.isnan(share) else "–"),
            ]
        )
    return Table(
        key="trainable_parameters",
        caption=(
            "Trainable parameters per model and learning mode (head included), as recorded "
            "in run.json: how much of each model a comparison adapts."
        ),
        header=["Model", "Mode", "Trainable", "Total", "Share"],
        rows=rows,
        n_keys=2,
    )


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "dataset"


def all_tables(summaries: list[ConfigSummary]) -> list[Table]:
    """Every summary-based table of the report, in report order."""
    tables = results_tables(summaries)
    extras = (
        external_table(summaries),
        density_table(summaries),
        label_efficiency_table(summaries),
        trainable_table([s for s in summaries if s.shots is None]),
    )
    for extra in extras:
        if extra is not None:
            tables.append(extra)
    return tables
