"""Figures of each configuration's curves: loss curves, ROC, confusion, reliability.

Drawn from the analysis' points (``summary/loss_curves.csv``, ``roc.csv``, ``confusion.csv``,
``reliability_pooled.csv``) through :class:`breastbench.report.curves.Curves`: nothing here
computes a point.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from breastbench.report.curves import Curves  # noqa: E402
from breastbench.report.names import mpl_text  # noqa: E402
from breastbench.report.plotting import (  # noqa: E402
    Palette,
    config_label,
    finish,
    save,
)
from breastbench.report.summary import ConfigSummary  # noqa: E402


def _band(ax, stats: pd.DataFrame, label: str, **style) -> None:
    ax.plot(stats.index, stats["mean"], label=label, **style)
    ax.fill_between(
        stats.index,
        (stats["mean"] - stats["std"]).clip(lower=0.0),  # a loss is never negative
        stats["mean"] + stats["std"],
        color=style.get("color"),
        alpha=0.15,
        linewidth=0,
    )


def _panels(n: int, width: float, height: float):
    """A figure of ``n`` panels, three to a row, and its first ``n`` axes (the rest blank)."""
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    return fig, list(axes.flat)[:n]


def _pooled_figure(
    summaries: list[ConfigSummary], draw, label_axes, diagonal: str, title: str, path: Path
) -> Path | None:
    """Pooled out-of-fold curves, one per configuration with runs, on the unit square.

    ``draw(ax, summary)`` plots one configuration's curve; ``label_axes(ax, classes)`` names the
    axes and returns what the title says after "pooled out-of-fold"; ``diagonal`` labels the
    dotted reference line.
    """
    rows = [s for s in summaries if s.runs]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(8.5, 5.5))
    for s in rows:
        draw(ax, s)
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle=":", label=diagonal)
    what = label_axes(ax, rows[0].runs[0].classes)
    ax.set_aspect("equal")
    return finish(fig, ax, f"{title}\n(pooled out-of-fold, {what})", path, fontsize=10)


def loss_curves(
    summaries: list[ConfigSummary], curves: Curves, palette: Palette, title: str, path: Path
) -> Path | None:
    """Figure 6: train and held-out loss per model x mode (mean over folds, ±1 std)."""
    rows = [s for s in summaries if curves.loss(s.config, "train_loss") is not None]
    if not rows:
        return None
    fig, axes = _panels(len(rows), 4.2, 3.2)
    for ax, s in zip(axes, rows):
        color = palette.style(s)["color"]
        _band(ax, curves.loss(s.config, "train_loss"), "train", color=color, linestyle="-")
        for col, name, ls in (("test_loss", "held-out fold", "--"), ("val_loss", "inner val", ":")):
            stats = curves.loss(s.config, col)
            if stats is not None:
                _band(ax, stats, name, color=color, linestyle=ls)
        ax.set_title(config_label(s), fontsize=9)
        ax.set_xlabel("Epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel("Loss")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(mpl_text(title), fontsize=11)
    return save(fig, path)


def held_out_overlay(
    summaries: list[ConfigSummary], curves: Curves, palette: Palette, title: str, path: Path
) -> Path | None:
    """Figure 7: held-out (test-fold) loss of every model x mode on one axis."""
    rows = [(s, curves.loss(s.config, "test_loss")) for s in summaries]
    rows = [(s, st) for s, st in rows if st is not None]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for s, stats in rows:
        ax.plot(stats.index, stats["mean"], label=config_label(s), **palette.style(s))
    ax.set_xlabel("Epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("Held-out fold loss (mean over folds)")
    return finish(fig, ax, title, path)


def roc_curves(
    summaries: list[ConfigSummary], curves: Curves, palette: Palette, title: str, path: Path
) -> Path | None:
    """ROC curves of the pooled out-of-fold predictions, one per model x mode."""

    def draw(ax, s: ConfigSummary) -> None:
        fpr, tpr, auc = curves.roc(s.config)
        if len(fpr):
            ax.plot(fpr, tpr, label=f"{config_label(s)} (pooled AUC {auc:.3f})", **palette.style(s))

    def label_axes(ax, classes: list[str]) -> str:
        ax.set_xlabel("False positive rate")
        ax.set_ylabel("True positive rate")
        return f"positive class: {classes[1]}" if len(classes) == 2 else "micro-average one-vs-rest"

    return _pooled_figure(summaries, draw, label_axes, "chance", title, path)


def confusion_matrices(
    summaries: list[ConfigSummary], curves: Curves, title: str, path: Path
) -> Path | None:
    """Row-normalised confusion matrices (counts annotated) of pooled out-of-fold predictions."""
    rows = [s for s in summaries if s.runs]
    if not rows:
        return None
    side = 2.6 + 0.45 * len(rows[0].runs[0].classes)
    fig, axes = _panels(len(rows), side, side)
    for ax, s in zip(axes, rows):
        classes = s.runs[0].classes
        k = len(classes)
        counts = curves.confusion(s.config, k)
        rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
        ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
        for i in range(k):
            for j in range(k):
                color = "white" if rates[i, j] > 0.6 else "black"
                ax.text(
                    j,
                    i,
                    f"{counts[i, j]}\n{rates[i, j]:.0%}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color=color,
                )
        short = [c if len(c) <= 10 else c[:9] + "…" for c in classes]
        ax.set_xticks(
            range(k),
            short,
            rotation=30 if k > 2 else 0,
            ha="right" if k > 2 else "center",
            fontsize=8,
        )
        ax.set_yticks(range(k), short, fontsize=8)
        ax.set_xlabel("Predicted", fontsize=8)
        ax.set_ylabel("True", fontsize=8)
        ax.set_title(config_label(s), fontsize=9)
    fig.suptitle(mpl_text(title), fontsize=11)
    return save(fig, path)


def reliability_diagrams(
    summaries: list[ConfigSummary], curves: Curves, palette: Palette, title: str, path: Path
) -> Path | None:
    """Reliability diagram: predicted probability vs observed frequency, with ECE per model."""

    def draw(ax, s: ConfigSummary) -> None:
        pts, ece = curves.reliability(s.config)
        ax.plot(
            pts["conf"],
            pts["freq"],
            marker="o",
            markersize=4,
            label=f"{config_label(s)} (ECE {ece:.3f})",
            **palette.style(s),
        )

    def label_axes(ax, classes: list[str]) -> str:
        if len(classes) == 2:
            ax.set_xlabel(f"Predicted P({classes[1]})")
            ax.set_ylabel(f"Observed fraction {classes[1]}")
        else:
            ax.set_xlabel("Confidence (max class probability)")
            ax.set_ylabel("Accuracy")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        return "10 bins"

    return _pooled_figure(summaries, draw, label_axes, "perfect calibration", title, path)
