"""Figures of the analysis' means and intervals (``summary/aggregate.csv``).

Accuracy per magnification, learning curves (label efficiency) and score against trainable
parameters: each point is a configuration's mean with its interval, as the analysis wrote it.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from breastbench.report.names import mpl_text  # noqa: E402
from breastbench.report.plotting import (  # noqa: E402
    Palette,
    axis_range,
    config_label,
    finish,
    metric_name,
    write_figure_data,
)
from breastbench.report.summary import ConfigSummary  # noqa: E402


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
    out = finish(fig, ax, title, path)
    write_figure_data(path, "accuracy", (lo_ax, hi_ax), points)
    return out


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
    out = finish(fig, ax, title, path, grid=False)
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
    out = finish(fig, ax, title, path, grid=False, fontsize=10)
    write_figure_data(path, metric, ylim, points)
    return out
