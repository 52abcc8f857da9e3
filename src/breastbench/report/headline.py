"""The answer first: per subset a headline figure, a forest plot and one sentence.

A *subset* is one dataset x magnification x augmentation (x external test set). For each, the
report draws

- the **headline figure**: every configuration's per-fold scores (``summary/metrics_by_run.csv``)
  as dots, joined across configurations by fold (the comparisons are paired by fold), with the
  mean and interval of ``summary/aggregate.csv``; CNNs and vision-language models sit in two
  shaded groups;
- the **forest plot**: the comparisons of ``summary/comparisons.csv`` for that subset and
  metric (those against the reference when the analysis names one, the primary test when it
  marks one), each with its estimate, interval and a significance marker;
- **one sentence** from the same rows, e.g. "SmolVLM LoRA is 0.041 AUC below ResNet34
  fine-tune (95% CI [-0.062, -0.020]; Holm p = 0.012, 5 folds)".

Nothing is computed here: every number is read from ``summary/``. Each figure's data is also
written beside it (``<figure>.json``) so a test can check it against the summary files.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from breastbench import jsonio  # noqa: E402
from breastbench.report.figures import DPI, FigureInfo, axis_range, write_figure_data  # noqa: E402
from breastbench.report.names import id_name, mpl_text, slug  # noqa: E402
from breastbench.report.summary import ConfigSummary  # noqa: E402
from breastbench.report.tables import metric_label  # noqa: E402

HEADLINE_METRICS = ("auc", "auc_ovr_macro", "kappa_quadratic", "accuracy")
CORRECTION_NAMES = {"holm": "Holm", "bonferroni": "Bonferroni", "none": "uncorrected"}
REPLICATE_COLUMNS = ("fold", "seed")


@dataclass
class Subset:
    """One subset's answer: its name, figures and sentence."""

    key: str
    name: str
    metric: str
    sentence: str
    figures: list[FigureInfo] = field(default_factory=list)
    n_comparisons: int = 0
    n_significant: int = 0


def vlm_group(s: ConfigSummary) -> str:
    """``CNN`` or ``VLM`` (CLIP-style and generative vision-language models together)."""
    return "CNN" if s.family == "cnn" else "VLM"


def subsets(summaries: list[ConfigSummary]) -> dict[tuple, list[ConfigSummary]]:
    """Whole-fold configurations grouped by dataset, magnification, augmentation, test set."""
    out: dict[tuple, list[ConfigSummary]] = {}
    for s in summaries:
        if s.shots is None and s.runs:
            out.setdefault((s.dataset, s.magnification, s.augmentation, s.external), []).append(s)
    return out


def _num(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def significant(row: dict) -> bool:
    """The analysis' ``significant`` flag, or corrected p below ``alpha`` (0.05 by default)."""
    flag = row.get("significant")
    if isinstance(flag, (bool, np.bool_)):
        return bool(flag)
    if isinstance(flag, str) and flag.lower() in ("true", "false"):
        return flag.lower() == "true"
    alpha = _num(row.get("alpha"))
    alpha = 0.05 if math.isnan(alpha) else alpha
    p_adj = _num(row.get("p_adj"))
    return not math.isnan(p_adj) and p_adj < alpha


def estimate(row: dict) -> float:
    """The primary estimate (A − B): ``estimate`` when the analysis writes it, else ``effect``."""
    value = _num(row.get("estimate"))
    return _num(row.get("effect")) if math.isnan(value) else value


MODE_RANK = ("finetune", "lora", "linear_probe", "tuned_probe", "simpleshot", "knn", "zero_shot")


def config_rank(s: ConfigSummary, order: list[str]) -> tuple:
    """Experiment-file order: model position, then the most adapted mode (never a score)."""
    pos = order.index(s.model) if s.model in order else len(order)
    mode = MODE_RANK.index(s.mode) if s.mode in MODE_RANK else len(MODE_RANK)
    return (pos, s.model, mode, s.text or "")


def fallback_reference(group: list[ConfigSummary], order: list[str]) -> ConfigSummary | None:
    """Without an analysis reference: the first CNN configuration in the experiment's order."""
    cnn = sorted((s for s in group if s.family == "cnn"), key=lambda s: config_rank(s, order))
    return cnn[0] if cnn else None


def focus_rows(
    comparisons: pd.DataFrame | None, ids: set[str], metric: str, fallback: str | None = None
) -> pd.DataFrame:
    """The rows the forest plot and sentence use for one subset and metric.

    Both sides in the subset; the primary test (``role``) or else one test for all rows (the
    first with intervals); only comparisons against the reference when the analysis names one,
    else those involving ``fallback`` (a configuration id) when it has any.
    """
    if comparisons is None or comparisons.empty:
        return pd.DataFrame()
    rows = comparisons[
        comparisons["config_a"].astype(str).isin(ids)
        & comparisons["config_b"].astype(str).isin(ids)
        & (comparisons["metric"] == metric)
    ]
    if rows.empty:
        return rows
    if "role" in rows.columns and (rows["role"] == "primary").any():
        rows = rows[rows["role"] == "primary"]
    else:
        with_ci = rows.dropna(subset=["ci_low", "ci_high"])["test"].unique().tolist()
        tests = with_ci or rows["test"].unique().tolist()
        rows = rows[rows["test"] == tests[0]]
    if "reference" in rows.columns:
        named = rows["reference"].fillna("").astype(str).str.len() > 0
        if named.any():
            return rows[named]
    if fallback is not None:
        mine = (rows["config_a"].astype(str) == fallback) | (
            rows["config_b"].astype(str) == fallback
        )
        if mine.any():
            rows = rows[mine]
    return rows


def headline_metric(group: list[ConfigSummary], comparisons: pd.DataFrame | None) -> str | None:
    """The metric the comparisons lead with (the analysis' order), else AUC/QWK/accuracy."""
    ids = {s.config for s in group}
    if comparisons is not None and not comparisons.empty:
        mine = comparisons[comparisons["config_a"].astype(str).isin(ids)]
        if not mine.empty:
            return str(mine["metric"].iloc[0])
    return next((m for m in HEADLINE_METRICS if any(m in s.mean for s in group)), None)


def fmt(x: float, digits: int = 3) -> str:
    """A number for a sentence (``–`` when undefined)."""
    return "–" if math.isnan(x) else f"{x:.{digits}f}"


def fmt_p(p: float) -> str:
    """Exact p with 3 significant digits."""
    return "n/a" if math.isnan(p) else f"{p:.3g}"


def sentence(row: dict, names: dict[str, str], metric: str) -> str:
    """``A is 0.041 AUC below B (95% CI [..]; Holm p = .., 5 folds), significant...``."""
    a, b = names[str(row["config_a"])], names[str(row["config_b"])]
    est = estimate(row)
    what = metric_label(metric)
    if math.isnan(est):
        head = f"{a} versus {b}: no estimate of the {what} difference"
    elif est == 0:
        head = f"{a} ties with {b} on {what} (difference 0.000)"
    else:
        head = f"{a} is {fmt(abs(est))} {what} {'above' if est > 0 else 'below'} {b}"
    lo, hi = _num(row.get("ci_low")), _num(row.get("ci_high"))
    alpha = _num(row.get("alpha"))
    level = 95 if math.isnan(alpha) else round(100 * (1 - alpha))
    parts = []
    if not math.isnan(lo):
        parts.append(f"{level}% CI of the difference [{fmt(lo)}, {fmt(hi)}]")
    correction = CORRECTION_NAMES.get(str(row.get("correction", "holm")), row.get("correction"))
    parts.append(f"{correction} p = {fmt_p(_num(row.get('p_adj')))}")
    parts.append(f"{int(_num(row['n']))} {row.get('unit', '')}".strip())
    verdict = "significant" if significant(row) else "not significant"
    return f"{head} ({'; '.join(parts)}): {verdict} after correction."


def pick_row(rows: pd.DataFrame, groups: dict[str, str]) -> dict | None:
    """The comparison the sentence states: the first (config order) across CNN and VLM groups."""
    if rows.empty:
        return None
    records = rows.to_dict("records")
    across = [
        r for r in records if groups.get(str(r["config_a"])) != groups.get(str(r["config_b"]))
    ]
    return (across or records)[0]


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
    kinds = [vlm_group(s) for s in configs]
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
        est, lo, hi, sig = estimate(r), _num(r["ci_low"]), _num(r["ci_high"]), significant(r)
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
                "p": _num(r["p"]),
                "p_adj": _num(r["p_adj"]),
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


def _chosen(rows: pd.DataFrame, ref: ConfigSummary | None, group: list) -> str:
    """How the forest plot's rows were chosen, in words."""
    if "reference" in rows.columns and rows["reference"].fillna("").astype(str).str.len().any():
        return f"the analysis' reference ({rows['reference'].dropna().astype(str).iloc[0]})"
    if ref is not None and not rows.empty and len(rows) < len(group) * (len(group) - 1) / 2:
        return (
            f"{ref.name} (the first CNN configuration of the experiment file, chosen before "
            "any score)"
        )
    return "every pair of the subset"


def answer(
    summaries: list[ConfigSummary],
    comparisons: pd.DataFrame | None,
    runs: pd.DataFrame | None,
    out_dir: Path,
    order: list[str] | None = None,
) -> list[Subset]:
    """Headline figure, forest plot and sentence of every subset, in paper order.

    ``order`` is the experiment file's model labels, for the fallback reference.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    out = []
    for (dataset, mag, aug, ext), group in subsets(summaries).items():
        metric = headline_metric(group, comparisons)
        if metric is None:
            continue
        where = group[0].subset
        key = slug("subset", dataset, f"{mag}x" if mag else "all", "aug", aug, ext and "to", ext)
        names = {s.config: s.name for s in group}
        ids = set(names)
        templates = group[0].templates
        if comparisons is not None and not comparisons.empty:
            for cid in pd.concat([comparisons["config_a"], comparisons["config_b"]]).astype(str):
                names.setdefault(cid, id_name(cid, templates))
        ref = fallback_reference(group, order or [])
        rows = focus_rows(comparisons, ids, metric, ref.config if ref is not None else None)
        chosen = _chosen(rows, ref, group)
        row = pick_row(rows, {s.config: vlm_group(s) for s in group})
        if row is not None:
            text = sentence(row, names, metric)
        elif len(group) < 2:
            text = f"{where}: one configuration ({group[0].name}), nothing to compare."
        else:
            text = (
                f"{where}: summary/comparisons.csv has no {metric_label(metric)} comparison of "
                "these configurations (they need two or more shared folds or seeds)."
            )
        subset = Subset(key, where, metric, text)
        subset.n_comparisons = len(rows)
        subset.n_significant = sum(significant(r) for r in rows.to_dict("records"))
        fig = headline_figure(
            group,
            runs,
            metric,
            f"{where}: {metric_label(metric)} per fold",
            out_dir / f"{key}.png",
            order,
        )
        if fig is not None:
            subset.figures.append(
                FigureInfo(
                    f"{key}_headline",
                    fig,
                    f"{where}: {metric_label(metric)} per fold",
                    f"Dots: each fold's {metric_label(metric)} (mean over that fold's test "
                    "patients' images, one fitted model per fold); grey lines join a fold across "
                    "configurations; diamond and bar: mean and interval of summary/aggregate.csv."
                    " Left shading CNNs, right VLMs.",
                )
            )
        forest = forest_plot(
            rows, names, metric, f"{where}: comparisons", out_dir / f"{key}_forest.png"
        )
        if forest is not None:
            test = rows["test"].iloc[0]
            subset.figures.append(
                FigureInfo(
                    f"{key}_forest",
                    forest,
                    f"{where}: {metric_label(metric)} differences",
                    f"Comparisons against {chosen}: {subset.n_significant} of "
                    f"{subset.n_comparisons} significant after correction. Estimate A − B with "
                    f"its interval ({test} test, from summary/comparisons.csv); filled marker: "
                    "significant after correction.",
                )
            )
        out.append(subset)
    return out
