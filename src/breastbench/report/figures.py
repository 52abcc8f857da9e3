"""The report's figures, in report order (:func:`render_figures`).

- accuracy per magnification per model (the histopathology study's Figure 5);
- train and held-out loss curves per model (Figure 6) and an overlay of held-out curves
  (Figure 7), mean over folds with a ±1 std band;
- ROC curves, confusion matrices and reliability diagrams of the pooled out-of-fold
  predictions of each configuration (every image scored once, by the model that never saw it).

Every plotted point is the analysis' (``summary/``): pooled curves and loss curves come from
``roc.csv``, ``confusion.csv``, ``reliability_pooled.csv`` and ``loss_curves.csv``
(:mod:`breastbench.results.curves`), means and intervals from ``aggregate.csv``.
CNNs are drawn with solid lines and VLMs dashed, as in the study; every configuration keeps one
colour across all figures.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from breastbench.report.curve_figures import (  # noqa: E402
    confusion_matrices,
    held_out_overlay,
    loss_curves,
    reliability_diagrams,
    roc_curves,
)
from breastbench.report.curves import Curves  # noqa: E402
from breastbench.report.names import slug  # noqa: E402
from breastbench.report.plotting import (  # noqa: E402
    DPI,
    PLAIN_TEXT,
    FigureInfo,
    Palette,
)
from breastbench.report.score_figures import (  # noqa: E402
    accuracy_by_magnification,
    learning_curves,
    score_vs_trainable,
)
from breastbench.report.summary import ConfigSummary  # noqa: E402

# DPI, PLAIN_TEXT and FigureInfo: report/explain.py imports them from here
__all__ = ["DPI", "PLAIN_TEXT", "FigureInfo", "render_figures"]


def _groups(summaries: list[ConfigSummary]) -> dict[tuple, list[ConfigSummary]]:
    """Configurations that share one dataset, magnification, augmentation and test set."""
    groups: dict[tuple, list[ConfigSummary]] = {}
    for s in summaries:
        key = (s.dataset, s.magnification, s.augmentation, s.external)
        groups.setdefault(key, []).append(s)
    return groups


def _learning_curve_figures(summaries: list[ConfigSummary], add) -> None:
    """One learning curve per dataset and magnification of the label-efficiency runs."""
    for dataset in sorted({s.dataset for s in summaries if s.shots is not None}):
        mags = {s.magnification or 0 for s in summaries if s.shots is not None}
        for mag in sorted(m for m in mags):
            rows = [
                s
                for s in summaries
                if s.shots is not None and s.dataset == dataset and (s.magnification or 0) == mag
            ]
            if not rows:
                continue
            where = f"{dataset} {f'{mag}×' if mag else ''}".strip()
            add(
                f"learning_curve_{slug(dataset, mag or 'all')}",
                f"{where}: label efficiency",
                "Mean score over folds and resampled support sets (k labelled patients per "
                "class, drawn inside each training fold) with the interval of "
                "summary/aggregate.csv; n per point.",
                lambda p, r=rows, t=where: learning_curves(r, f"{t}: learning curve", p),
                "label efficiency",
            )


def _magnification_figures(internal: list[ConfigSummary], palette: Palette, add) -> None:
    """Accuracy per magnification, one figure per dataset and augmentation setting."""
    for dataset in sorted({s.dataset for s in internal}):
        for aug in sorted({s.augmentation for s in internal if s.dataset == dataset}):
            rows = [s for s in internal if s.dataset == dataset and s.augmentation == aug]
            title = f"{dataset}, augmentation {aug}: accuracy per magnification"
            add(
                f"accuracy_by_magnification_{slug(dataset, 'augmentation', aug)}",
                title,
                "Mean accuracy over folds with the interval of summary/aggregate.csv; solid "
                "lines CNNs, dashed VLMs; the y axis is [0, 1] in every such figure.",
                lambda p, rows=rows, title=title: accuracy_by_magnification(
                    rows, palette, title, p
                ),
                "across magnifications",
            )


def _subset_kinds(rows: list[ConfigSummary], where: str, curves: Curves, palette: Palette):
    """(kind, what, caption, draw) of every figure of one subset, in report order."""
    return [
        (
            "score_vs_trainable_parameters",
            "score against trainable parameters",
            "Each configuration's mean score over folds (AUC: mean of per-fold AUCs, "
            "one-vs-rest macro for several classes; else QWK) with its interval, against "
            "its trainable parameters (squares CNNs, triangles CLIP, circles VLMs; open "
            "markers: nothing trained, drawn at 0 on the symmetric-log axis).",
            lambda p, r=rows, t=where: score_vs_trainable(
                r, f"{t}: score against trainable parameters", p
            ),
        ),
        (
            "loss_curves",
            "train and held-out loss",
            "Mean over folds, band ±1 std.",
            lambda p, r=rows, t=where: loss_curves(r, curves, palette, f"{t}: loss curves", p),
        ),
        (
            "loss_overlay",
            "held-out loss overlay",
            "Held-out (test-fold) loss, mean over folds.",
            lambda p, r=rows, t=where: held_out_overlay(
                r, curves, palette, f"{t}: held-out loss", p
            ),
        ),
        (
            "roc",
            "ROC curves",
            "Pooled out-of-fold predictions of each configuration (descriptive). The "
            "legend's AUC is the pooled AUC (micro-averaged one-vs-rest for several "
            "classes), not the tables' mean of per-fold AUCs.",
            lambda p, r=rows, t=where: roc_curves(r, curves, palette, f"{t}: ROC", p),
        ),
        (
            "confusion",
            "confusion matrices",
            "Pooled out-of-fold; counts and row percentages.",
            lambda p, r=rows, t=where: confusion_matrices(r, curves, f"{t}: confusion matrices", p),
        ),
        (
            "reliability",
            "reliability diagram",
            "Calibration of pooled out-of-fold predictions (descriptive).",
            lambda p, r=rows, t=where: reliability_diagrams(
                r, curves, palette, f"{t}: reliability", p
            ),
        ),
    ]


@matplotlib.rc_context(PLAIN_TEXT)
def render_figures(
    summaries: list[ConfigSummary], out_dir: Path, curves: Curves | None = None
) -> list[FigureInfo]:
    """Draw every figure into ``out_dir`` and describe them, in report order.

    ``curves`` holds the analysis' curve points (``summary/roc.csv`` and its siblings); the
    figures draw them and compute nothing.

    Each figure carries its ``group`` (the subset it belongs to, or "across magnifications" /
    "label efficiency"), which the report uses for sub-headings.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    curves = curves or Curves({})
    palette = Palette(summaries)
    figures: list[FigureInfo] = []

    def add(key: str, title: str, caption: str, draw, group: str) -> None:
        path = draw(out_dir / f"{key}.png")
        if path is not None:
            figures.append(FigureInfo(key, path, title, caption, group))

    _learning_curve_figures(summaries, add)
    summaries = [s for s in summaries if s.shots is None]  # the other figures: whole folds
    _magnification_figures([s for s in summaries if not s.external], palette, add)
    for (dataset, mag, aug, ext), rows in _groups(summaries).items():
        where = rows[0].subset
        key = slug(dataset, mag or "all", "augmentation", aug, ext and "to", ext)
        kinds = _subset_kinds(rows, where, curves, palette)
        if ext:
            kinds = kinds[3:]
        for kind, what, caption, draw in kinds:
            add(f"{kind}_{key}", f"{where}: {what}", caption, draw, where)
    return figures
