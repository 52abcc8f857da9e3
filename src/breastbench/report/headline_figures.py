"""The headline figure (per-fold scores, means, intervals) and the forest plot of a subset.

Drawn from ``summary/metrics_by_run.csv``, ``aggregate.csv`` and ``comparisons.csv`` as read
(see :mod:`breastbench.report.headline`); each figure's data is written beside it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from breastbench import jsonio  # noqa: E402
from breastbench.report.names import mpl_text  # noqa: E402
from breastbench.report.plotting import DPI, axis_range, write_figure_data  # noqa: E402
from breastbench.report.rows import (  # noqa: E402
    REPLICATE_COLUMNS,
    config_rank,
    estimate,
    num,
    significant,
    vlm_group,
)
from breastbench.report.summary import ConfigSummary  # noqa: E402
from breastbench.report.tables import metric_label  # noqa: E402


def _scores(group: list[ConfigSummary], runs: pd.DataFrame | None, metric: str) -> pd.DataFrame:
    """Long table: config, replicate, value of ``metric`` (from metrics_by_run.csv)."""
    if runs is None or runs.empty or metric not in runs.columns:
        return pd.DataFrame(columns=["config_id", "replicate", "value"])
    ids = [s.config for s in group]
    part = runs[runs["config_id"].astype(str).isin(ids)].copy()
    rep = next((c for c in REPLICATE_COLUMNS if c in part and part[c].notna().any()), None)
    part["replicate"] = part[rep].astype("Int64").astype(str) if rep else "0"
    part = part.rename(columns={metric: "value"})[["config_id", "replicate", "value"]]
    return part.dropna(subset=["value"])


def _shade_groups(ax, kinds: list[str]) -> None:
    """Shade the CNN and the VLM columns and name each group above the axes."""
    for kind, colour in (("CNN", "#dbe9f6"), ("VLM", "#fbe3d6")):
        xs = [i for i, k in enumerate(kinds) if k == kind]
        if xs:
            ax.axvspan(min(xs) - 0.45, max(xs) + 0.45, color=colour, zorder=0)
            ax.text(
                (min(xs) + max(xs)) / 2,
                1.01,
                "CNNs" if kind == "CNN" else "VLMs",
                transform=ax.get_xaxis_transform(),
                ha="center",
                va="bottom",
                fontsize=9,
                fontweight="bold",
            )


def headline_figure(
    group: list[ConfigSummary],
    runs: pd.DataFrame | None,
    metric: str,
    title: str,
    path: Path,
    order: list[str] | None = None,
) -> Path | None:
    """Per-fold dots joined by fold, mean and interval per configuration, CNN/VLM groups.

    CNNs first, then VLMs; within each, the experiment file's model order and the most adapted
    mode first (``order``: the file's model labels).
    """
    scores = _scores(group, runs, metric)
    configs = sorted(
        (s for s in group if metric in s.mean),
        key=lambda s: (vlm_group(s), config_rank(s, order or [])),
    )
    if not configs:
        return None
    x_of = {s.config: i for i, s in enumerate(configs)}
    lo, hi = axis_range(metric, list(scores["value"]) + [s.mean[metric] for s in configs])
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    _shade_groups(ax, [vlm_group(s) for s in configs])
    for _, fold in scores.groupby("replicate"):
        fold = fold[fold["config_id"].isin(x_of)]
        fold = fold.assign(x=fold["config_id"].map(x_of)).sort_values("x")
        ax.plot(fold["x"], fold["value"], color="grey", alpha=0.45, linewidth=0.8, zorder=1)
        ax.scatter(fold["x"], fold["value"], s=18, color="#57606a", zorder=2)
    points = []
    for s in configs:
        x, mean = x_of[s.config], s.mean[metric]
        ci_low, ci_high = s.ci.get(metric, (math.nan, math.nan))
        if not math.isnan(ci_low):
            ax.vlines(x + 0.18, max(ci_low, lo), min(ci_high, hi), color="black", linewidth=2)
        ax.scatter([x + 0.18], [mean], marker="D", s=40, color="black", zorder=3)
        values = scores[scores["config_id"] == s.config]
        points.append(
            {
                "config_id": s.config,
                "name": s.name,
                "group": vlm_group(s),
                "mean": mean,
                "ci_low": ci_low,
                "ci_high": ci_high,
                "folds": dict(zip(values["replicate"], values["value"].astype(float))),
            }
        )
    ax.set_xticks(
        range(len(configs)),
        [mpl_text(s.name) for s in configs],
        rotation=30 if len(configs) > 3 else 0,
        fontsize=7 if len(configs) > 6 else 8,
    )
    if len(configs) > 3:
        for tick in ax.get_xticklabels():
            tick.set_ha("right")
    ax.set_xlim(-0.6, len(configs) - 0.4)
    ax.set_ylim(lo, hi)
    ax.set_ylabel(mpl_text(f"{metric_label(metric)} per fold"))
    ax.set_title(mpl_text(title), fontsize=10, pad=16)
    ax.grid(axis="y", alpha=0.3)
    ax.scatter([], [], s=18, color="#57606a", label="one fold (lines join a fold)")
    ax.scatter([], [], marker="D", s=40, color="black", label="mean and interval")
    ax.legend(fontsize=7, loc="lower left", framealpha=0.9)
    fig.tight_layout()
    jsonio.save_figure(fig, path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    write_figure_data(path, metric, (lo, hi), points)
    return path


def forest_plot(
    rows: pd.DataFrame, names: dict[str, str], metric: str, title: str, path: Path
) -> Path | None:
    """Estimate (A − B) with its interval per comparison; filled marker = significant."""
    if rows.empty:
        return None
    records = rows.to_dict("records")
    fig, ax = plt.subplots(figsize=(6.2, max(2.2, 0.45 * len(records) + 1.4)))
    points = []
    for i, r in enumerate(records):
        y = len(records) - 1 - i
        est, lo, hi, sig = estimate(r), num(r["ci_low"]), num(r["ci_high"]), significant(r)
        if not math.isnan(lo):
            ax.hlines(y, lo, hi, color="black", linewidth=1.5)
        ax.plot(
            [est],
            [y],
            marker="o",
            markersize=7,
            color="black",
            markerfacecolor="black" if sig else "white",
        )
        points.append(
            {
                "config_a": str(r["config_a"]),
                "config_b": str(r["config_b"]),
                "label": f"{names[str(r['config_a'])]} vs {names[str(r['config_b'])]}",
                "test": r["test"],
                "estimate": est,
                "ci_low": lo,
                "ci_high": hi,
                "p": num(r["p"]),
                "p_adj": num(r["p_adj"]),
                "significant": sig,
            }
        )
    ax.axvline(0, color="grey", linestyle=":", linewidth=1)
    ax.set_yticks(range(len(records)), [mpl_text(p["label"]) for p in reversed(points)], fontsize=8)
    ax.set_xlabel(mpl_text(f"{metric_label(metric)} difference (A − B)"))
    ax.set_title(
        mpl_text(f"{title}\n● significant after correction   ○ not significant"), fontsize=9
    )
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    jsonio.save_figure(fig, path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    jsonio.atomic_write_text(
        path.with_suffix(".json"),
        json.dumps({"metric": metric, "comparisons": points}, indent=1, allow_nan=True),
    )
    return path
