"""The report's figures, drawn with matplotlib's Agg backend from the analysis' files only.

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

import json
import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from breastbench import jsonio  # noqa: E402
from breastbench.report.curves import Curves  # noqa: E402
from breastbench.report.names import mpl_text, slug  # noqa: E402
from breastbench.report.summary import ConfigSummary  # noqa: E402

DPI = 110
# labels are user text (model labels, class names): a '$' is a dollar sign, never mathtext
PLAIN_TEXT = {"text.parse_math": False, "text.usetex": False}
UNBOUNDED = ("loss", "nll", "log_loss")  # every other metric lies in [0, 1] (kappa: [-1, 1])


def bounded(metric: str) -> bool:
    """True for metrics with a fixed range (everything but losses)."""
    return not metric.endswith(UNBOUNDED)


def axis_range(metric: str, values) -> tuple[float, float]:
    """The y range of a metric: [0, 1] for bounded ones (kappa below 0: [-1, 1]), else padded."""
    finite = [float(v) for v in values if v == v]
    if bounded(metric):
        return (-1.0 if finite and min(finite) < 0 else 0.0), 1.0
    if not finite:
        return 0.0, 1.0
    span = (max(finite) - min(finite)) or 1.0
    return min(finite) - 0.05 * span, max(finite) + 0.05 * span


def write_figure_data(path: Path, metric: str, ylim: tuple[float, float], points: list) -> None:
    """``<figure>.json`` beside the PNG: metric, y range and every plotted value."""
    data = {"metric": metric, "bounded": bounded(metric), "ylim": list(ylim), "points": points}
    jsonio.atomic_write_text(path.with_suffix(".json"), json.dumps(data, indent=1, default=str))


@dataclass
class FigureInfo:
    """A written figure: file, section title and caption."""

    key: str
    path: Path
    title: str
    caption: str
    group: str = ""


def config_label(s: ConfigSummary) -> str:
    """Short legend label: ``cnn/resnet34 · fine-tune`` (``$`` escaped for matplotlib)."""
    return mpl_text(f"{s.model_label} · {s.mode_label}")


class Palette:
    """One colour per model x mode, stable across figures."""

    def __init__(self, summaries: list[ConfigSummary]):
        labels = sorted({config_label(s) for s in summaries})
        cmap = plt.get_cmap("tab10" if len(labels) <= 10 else "tab20")
        self.colors = {lab: cmap(i % cmap.N) for i, lab in enumerate(labels)}

    def style(self, s: ConfigSummary) -> dict:
        """Line style kwargs: colour by configuration, dashed for non-CNN families."""
        return {
            "color": self.colors[config_label(s)],
            "linestyle": "-" if s.family == "cnn" else "--",
        }


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    jsonio.save_figure(fig, path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def _legend_right(ax) -> None:
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)


def accuracy_by_magnification(
    summaries: list[ConfigSummary], palette: Palette, title: str, path: Path
) -> Path | None:
    """Figure 5: mean accuracy per magnification with its interval, one line per model x mode.

    The y axis is [0, 1] in every such figure, so the augmentation settings compare by eye;
    intervals are the analysis' (summary/aggregate.csv), drawn within the axis.
    """
    rows = [s for s in summaries if s.magnification and "accuracy" in s.mean]
    mags = sorted({s.magnification for s in rows})
    if len(mags) < 2:
        return None
    fig, ax = plt.subplots(figsize=(9, 4.5))
    lo_ax, hi_ax = axis_range("accuracy", [s.mean["accuracy"] for s in rows])
    points = []
    labels = sorted({config_label(s) for s in rows})
    for i, label in enumerate(labels):
        line = sorted((s for s in rows if config_label(s) == label), key=lambda s: s.magnification)
        dodge = 0.25 * (i - (len(labels) - 1) / 2) / max(len(labels), 1)  # bars side by side
        x = [mags.index(s.magnification) + dodge for s in line]
        y = [s.mean["accuracy"] for s in line]
        ci = [s.ci.get("accuracy", (math.nan, math.nan)) for s in line]
        low = [0 if math.isnan(c[0]) else m - max(c[0], lo_ax) for m, c in zip(y, ci)]
        high = [0 if math.isnan(c[1]) else min(c[1], hi_ax) - m for m, c in zip(y, ci)]
        ax.errorbar(
            x, y, yerr=[low, high], marker="o", capsize=3, label=label, **palette.style(line[0])
        )
        points += [
            {"name": s.name, "magnification": s.magnification, "mean": m, "ci": list(c)}
            for s, m, c in zip(line, y, ci)
        ]
    ax.set_xticks(range(len(mags)), [f"{m}×" for m in mags])
    ax.set_ylim(lo_ax, hi_ax)
    ax.set_xlabel("Magnification")
    ax.set_ylabel("Accuracy (mean over folds, interval)")
    ax.set_title(mpl_text(title))
    ax.grid(alpha=0.3)
    _legend_right(ax)
    out = _save(fig, path)
    write_figure_data(path, "accuracy", (lo_ax, hi_ax), points)
    return out


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


def loss_curves(
    summaries: list[ConfigSummary], curves: Curves, palette: Palette, title: str, path: Path
) -> Path | None:
    """Figure 6: train and held-out loss per model x mode (mean over folds, ±1 std)."""
    rows = [s for s in summaries if curves.loss(s.config, "train_loss") is not None]
    if not rows:
        return None
    ncols = min(3, len(rows))
    nrows = math.ceil(len(rows) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), squeeze=False)
    for ax, s in zip(axes.flat, rows):
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
    for ax in list(axes.flat)[len(rows) :]:
        ax.axis("off")
    fig.suptitle(mpl_text(title), fontsize=11)
    return _save(fig, path)


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
    ax.set_title(mpl_text(title))
    ax.grid(alpha=0.3)
    _legend_right(ax)
    return _save(fig, path)


def roc_curves(
    summaries: list[ConfigSummary], curves: Curves, palette: Palette, title: str, path: Path
) -> Path | None:
    """ROC curves of the pooled out-of-fold predictions, one per model x mode."""
    rows = [s for s in summaries if s.runs]
    if not rows:
        return None
    classes = rows[0].runs[0].classes
    fig, ax = plt.subplots(figsize=(8.5, 5.5))
    for s in rows:
        fpr, tpr, auc = curves.roc(s.config)
        if len(fpr):
            ax.plot(fpr, tpr, label=f"{config_label(s)} (pooled AUC {auc:.3f})", **palette.style(s))
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle=":", label="chance")
    what = f"positive class: {classes[1]}" if len(classes) == 2 else "micro-average one-vs-rest"
    ax.set_xlabel("False positive rate")
    ax.set_ylabel("True positive rate")
    ax.set_title(mpl_text(f"{title}\n(pooled out-of-fold, {what})"), fontsize=10)
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    _legend_right(ax)
    return _save(fig, path)


def confusion_matrices(
    summaries: list[ConfigSummary], curves: Curves, title: str, path: Path
) -> Path | None:
    """Row-normalised confusion matrices (counts annotated) of pooled out-of-fold predictions."""
    rows = [s for s in summaries if s.runs]
    if not rows:
        return None
    ncols = min(3, len(rows))
    nrows = math.ceil(len(rows) / ncols)
    n_classes = len(rows[0].runs[0].classes)
    side = 2.6 + 0.45 * n_classes
    fig, axes = plt.subplots(nrows, ncols, figsize=(side * ncols, side * nrows), squeeze=False)
    for ax, s in zip(axes.flat, rows):
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
    for ax in list(axes.flat)[len(rows) :]:
        ax.axis("off")
    fig.suptitle(mpl_text(title), fontsize=11)
    return _save(fig, path)


def reliability_diagrams(
    summaries: list[ConfigSummary], curves: Curves, palette: Palette, title: str, path: Path
) -> Path | None:
    """Reliability diagram: predicted probability vs observed frequency, with ECE per model."""
    rows = [s for s in summaries if s.runs]
    if not rows:
        return None
    classes = rows[0].runs[0].classes
    fig, ax = plt.subplots(figsize=(8.5, 5.5))
    for s in rows:
        pts, ece = curves.reliability(s.config)
        ax.plot(
            pts["conf"],
            pts["freq"],
            marker="o",
            markersize=4,
            label=f"{config_label(s)} (ECE {ece:.3f})",
            **palette.style(s),
        )
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle=":", label="perfect calibration")
    if len(classes) == 2:
        ax.set_xlabel(f"Predicted P({classes[1]})")
        ax.set_ylabel(f"Observed fraction {classes[1]}")
    else:
        ax.set_xlabel("Confidence (max class probability)")
        ax.set_ylabel("Accuracy")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_aspect("equal")
    ax.set_title(mpl_text(f"{title}\n(pooled out-of-fold, 10 bins)"), fontsize=10)
    ax.grid(alpha=0.3)
    _legend_right(ax)
    return _save(fig, path)


def learning_curves(summaries: list[ConfigSummary], title: str, path: Path) -> Path | None:
    """Score against labelled patients per class, one line per model and mode, n per point."""
    rows = [s for s in summaries if s.shots is not None and s.runs]
    metric = next(
        (
            m
            for m in ("auc", "kappa_quadratic", "auc_ovr_macro", "accuracy")
            if any(m in s.mean for s in rows)
        ),
        None,
    )
    if metric is None:
        return None
    shots = sorted({s.shots for s in rows}, key=lambda k: (k == "all", int(k) if k != "all" else 0))
    x_of = {k: i for i, k in enumerate(shots)}
    fig, ax = plt.subplots(figsize=(7.2, 4.4))
    lines: dict[str, list[ConfigSummary]] = {}
    points: list[dict] = []
    for s in rows:
        lines.setdefault(f"{s.model_label} · {s.mode_label}", []).append(s)
    for label, pts in sorted(lines.items()):
        pts = sorted((p for p in pts if metric in p.mean), key=lambda p: x_of[p.shots])
        x = [x_of[p.shots] for p in pts]
        y = [p.mean[metric] for p in pts]
        lo = [p.mean[metric] - p.ci.get(metric, (math.nan,) * 2)[0] for p in pts]
        hi = [p.ci.get(metric, (math.nan,) * 2)[1] - p.mean[metric] for p in pts]
        yerr = [[0 if math.isnan(v) else v for v in lo], [0 if math.isnan(v) else v for v in hi]]
        ax.errorbar(x, y, yerr=yerr, marker="o", capsize=3, label=mpl_text(label))
        points += [{"name": label, "shots": p.shots, "mean": v} for p, v in zip(pts, y)]
        for xi, yi, p in zip(x, y, pts):
            ax.annotate(
                f"n={p.n.get(metric, 0)}",
                (xi, yi),
                textcoords="offset points",
                xytext=(0, 6),
                fontsize=6,
                ha="center",
            )
    ax.set_xticks(range(len(shots)), shots)
    ylim = axis_range(metric, [p["mean"] for p in points])
    ax.set_ylim(*ylim)
    ax.set_xlabel("labelled patients per class")
    ax.set_ylabel(f"{metric_name(metric)} (mean, 95% CI)")
    ax.set_title(mpl_text(title))
    _legend_right(ax)
    out = _save(fig, path)
    write_figure_data(path, metric, ylim, points)
    return out


def score_vs_trainable(summaries: list[ConfigSummary], title: str, path: Path) -> Path | None:
    """Headline score against trainable parameters, one point per configuration of a subset.

    The x axis is symmetric-log so zero-parameter configurations (zero-shot) sit at 0 with an
    open marker instead of vanishing from a log axis.
    """
    rows = [
        s for s in summaries if not s.external and s.runs and not math.isnan(s.trainable_params)
    ]
    metric = next(
        (m for m in ("auc", "auc_ovr_macro", "kappa_quadratic") if any(m in s.mean for s in rows)),
        None,
    )
    if metric is None or len(rows) < 2:
        return None
    fig, ax = plt.subplots(figsize=(7.4, 4.2))
    points = []
    for s in rows:
        if metric not in s.mean:
            continue
        lo, hi = s.ci.get(metric, (math.nan, math.nan))
        mean = s.mean[metric]
        err = [[0 if math.isnan(lo) else max(mean - lo, 0)], [0 if math.isnan(hi) else hi - mean]]
        marker = {"cnn": "s", "clip": "^", "vlm": "o"}.get(s.family, "D")
        zero = s.trainable_params == 0
        ax.errorbar(
            s.trainable_params,
            mean,
            yerr=err,
            fmt=marker,
            capsize=3,
            markerfacecolor="white" if zero else None,
            label=config_label(s) + (" (0 trained)" if zero else ""),
        )
        points.append({"name": s.name, "trainable_params": s.trainable_params, "mean": mean})
    ax.set_xscale("symlog", linthresh=1.0)
    ax.set_xlim(left=-0.5)
    ylim = axis_range(metric, [p["mean"] for p in points])
    ax.set_ylim(*ylim)
    ax.set_xlabel("trainable parameters (symmetric log scale; 0 = nothing trained)")
    ax.set_ylabel(f"{metric_name(metric)} (mean over folds, interval)")
    ax.set_title(mpl_text(title), fontsize=10)
    _legend_right(ax)
    out = _save(fig, path)
    write_figure_data(path, metric, ylim, points)
    return out


def metric_name(metric: str) -> str:
    """Display name of a metric, naming the AUC definition (mean over folds)."""
    from breastbench.report.tables import metric_label

    return metric_label(metric)


def _groups(summaries: list[ConfigSummary]) -> dict[tuple, list[ConfigSummary]]:
    """Configurations that share one dataset, magnification, augmentation and test set."""
    groups: dict[tuple, list[ConfigSummary]] = {}
    for s in summaries:
        key = (s.dataset, s.magnification, s.augmentation, s.external)
        groups.setdefault(key, []).append(s)
    return groups


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
    summaries = [s for s in summaries if s.shots is None]  # the other figures: whole folds
    internal = [s for s in summaries if not s.external]
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
    for (dataset, mag, aug, ext), rows in _groups(summaries).items():
        where = rows[0].subset
        key = slug(dataset, mag or "all", "augmentation", aug, ext and "to", ext)
        kinds = [
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
                lambda p, r=rows, t=where: confusion_matrices(
                    r, curves, f"{t}: confusion matrices", p
                ),
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
        if ext:
            kinds = kinds[3:]
        for kind, what, caption, draw in kinds:
            add(f"{kind}_{key}", f"{where}: {what}", caption, draw, where)
    return figures
