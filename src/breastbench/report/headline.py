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

import math
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import pandas as pd  # noqa: E402

from breastbench.report.headline_figures import forest_plot, headline_figure  # noqa: E402
from breastbench.report.names import id_name, slug  # noqa: E402
from breastbench.report.plotting import FigureInfo  # noqa: E402
from breastbench.report.rows import (  # noqa: E402
    config_rank,
    estimate,
    num,
    significant,
    vlm_group,
)
from breastbench.report.summary import ConfigSummary  # noqa: E402
from breastbench.report.tables import metric_label  # noqa: E402

# config_rank: report/explain.py imports it from here
__all__ = ["Subset", "answer", "config_rank", "subsets"]

HEADLINE_METRICS = ("auc", "auc_ovr_macro", "kappa_quadratic", "accuracy")
CORRECTION_NAMES = {"holm": "Holm", "bonferroni": "Bonferroni", "none": "uncorrected"}


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


def subsets(summaries: list[ConfigSummary]) -> dict[tuple, list[ConfigSummary]]:
    """Whole-fold configurations grouped by dataset, magnification, augmentation, test set."""
    out: dict[tuple, list[ConfigSummary]] = {}
    for s in summaries:
        if s.shots is None and s.runs:
            out.setdefault((s.dataset, s.magnification, s.augmentation, s.external), []).append(s)
    return out


def fallback_reference(group: list[ConfigSummary], order: list[str]) -> ConfigSummary | None:
    """Without an analysis reference: the first CNN configuration in the experiment's order."""
    cnn = sorted((s for s in group if s.family == "cnn"), key=lambda s: config_rank(s, order))
    return cnn[0] if cnn else None


def names_reference(comparisons: pd.DataFrame) -> pd.Series:
    """Per comparison row, whether it names the analysis' reference (a non-empty value).

    An empty ``reference`` column reads back from CSV as float64 NaN; it is cast to object
    before filling, as pandas refuses a string fill value for a float column.
    """
    column = comparisons.get("reference", pd.Series(index=comparisons.index, dtype=object))
    return column.astype(object).fillna("").astype(str).str.len() > 0


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
    named = names_reference(rows)
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
    lo, hi = num(row.get("ci_low")), num(row.get("ci_high"))
    alpha = num(row.get("alpha"))
    level = 95 if math.isnan(alpha) else round(100 * (1 - alpha))
    parts = []
    if not math.isnan(lo):
        parts.append(f"{level}% CI of the difference [{fmt(lo)}, {fmt(hi)}]")
    correction = CORRECTION_NAMES.get(str(row.get("correction", "holm")), row.get("correction"))
    parts.append(f"{correction} p = {fmt_p(num(row.get('p_adj')))}")
    parts.append(f"{int(num(row['n']))} {row.get('unit', '')}".strip())
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


def _chosen(rows: pd.DataFrame, ref: ConfigSummary | None, group: list) -> str:
    """How the forest plot's rows were chosen, in words."""
    if names_reference(rows).any():
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
