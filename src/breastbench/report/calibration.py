"""The calibration and subgroup section, drawn from the analysis files only.

- ``summary/reliability.csv`` (config_id, bin, confidence, accuracy, count): one reliability
  figure per subset, a curve per configuration, with its ECE and Brier score from
  ``summary/aggregate.csv`` in the legend when the analysis computed them;
- ``summary/subgroups.csv`` (config_id, subgroup_column, subgroup, metric, value, ci_low,
  ci_high, n_patients; ``worst`` and ``note`` when present): one table per subgroup column
  (subtype, view, ...), the worst group of each configuration marked;
- ``summary/subgroup_comparisons.csv``: one table of the paired tests of the gap between two
  configurations within each subgroup, corrected within each pair x column x metric.

Any file may be absent (an older analysis): the section then says so in one line.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from breastbench import jsonio  # noqa: E402
from breastbench.report.headline import subsets  # noqa: E402
from breastbench.report.names import id_name, mpl_text, slug  # noqa: E402
from breastbench.report.plotting import DPI, FigureInfo, write_figure_data  # noqa: E402
from breastbench.report.summary import ConfigSummary, lower_is_better  # noqa: E402
from breastbench.report.tables import Cell, Table, metric_label  # noqa: E402


def _score(s: ConfigSummary, names: tuple[str, ...]) -> str:
    metric = next((m for m in names if m in s.mean and not math.isnan(s.mean[m])), None)
    return "" if metric is None else f"{metric_label(metric)} {s.mean[metric]:.3f}"


def reliability_figures(
    summaries: list[ConfigSummary], table: pd.DataFrame | None, out_dir: Path
) -> list[FigureInfo]:
    """One reliability figure per subset from ``summary/reliability.csv``."""
    if table is None or table.empty:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = []
    for (dataset, mag, aug, ext), group in subsets(summaries).items():
        rows = table[table["config_id"].astype(str).isin({s.config for s in group})]
        if rows.empty:
            continue
        where = group[0].subset
        key = slug("reliability", dataset, f"{mag}x" if mag else "all", "aug", aug, ext)
        fig, ax = plt.subplots(figsize=(7.6, 4.6))
        points = []
        for s in group:
            part = rows[rows["config_id"].astype(str) == s.config].sort_values("confidence")
            if part.empty:
                continue
            scores = ", ".join(
                x for x in (_score(s, ("ece", "ece_equal_width")), _score(s, ("brier",))) if x
            )
            ax.plot(
                part["confidence"],
                part["accuracy"],
                marker="o",
                markersize=3,
                linestyle="-" if s.family == "cnn" else "--",
                label=mpl_text(s.name + (f" ({scores})" if scores else "")),
            )
            points += [
                {"name": s.name, "confidence": c, "mean": a}
                for c, a in zip(part["confidence"], part["accuracy"])
            ]
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=0.8, label="perfect")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("predicted probability (bin mean)")
        ax.set_ylabel("observed frequency")
        ax.set_title(mpl_text(f"{where}: reliability (summary/reliability.csv)"), fontsize=10)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False)
        ax.grid(alpha=0.3)
        path = out_dir / f"{key}.png"
        fig.tight_layout()
        jsonio.save_figure(fig, path, dpi=DPI, bbox_inches="tight")
        plt.close(fig)
        write_figure_data(path, "observed frequency", (0.0, 1.0), points)
        figures.append(
            FigureInfo(
                key,
                path,
                f"{where}: reliability",
                "Bins and observed frequencies as the analysis computed them; ECE and Brier "
                "(mean over folds) in the legend where summary/aggregate.csv has them.",
                where,
            )
        )
    return figures


def subgroup_tables(table: pd.DataFrame | None, templates: dict[str, str]) -> list[Table]:
    """One table per subgroup column; the worst group of each configuration and metric marked."""
    if table is None or table.empty:
        return []
    out = []
    for column, part in table.groupby("subgroup_column", sort=False):
        rows = []
        for (cid, metric), cells in part.groupby(["config_id", "metric"], sort=False):
            values = cells["value"].astype(float).dropna()
            if "worst" in cells.columns:
                marked = cells.index[cells["worst"].astype(str).str.lower() == "true"]
                worst = marked[0] if len(marked) else None
            elif values.empty:
                worst = None
            else:
                worst = values.idxmax() if lower_is_better(str(metric)) else values.idxmin()
            for idx, r in cells.iterrows():
                lo, hi = float(r.get("ci_low", math.nan)), float(r.get("ci_high", math.nan))
                note = r.get("note")
                note = note if isinstance(note, str) and note else "–"
                ci = note if math.isnan(lo) else f"[{lo:.3f}, {hi:.3f}]"
                rows.append(
                    [
                        Cell(id_name(cid, templates)),
                        Cell(metric_label(str(metric))),
                        Cell(str(r["subgroup"])),
                        Cell(f"{float(r['value']):.4f}", bold=idx == worst),
                        Cell(ci),
                        Cell(str(r.get("n_patients", ""))),
                        Cell("worst" if idx == worst else ""),
                    ]
                )
        out.append(
            Table(
                key=f"subgroups_{slug(column)}",
                caption=(
                    f"Per-{column} results (summary/subgroups.csv): value with its "
                    "patient-clustered interval; bold and 'worst': the configuration's worst "
                    "group for that metric."
                ),
                header=[
                    "Configuration",
                    "Metric",
                    str(column),
                    "Value",
                    "Interval",
                    "Patients",
                    "",
                ],
                rows=rows,
                n_keys=3,
            )
        )
    return out


def subgroup_comparison_table(table: pd.DataFrame | None, templates: dict[str, str]) -> list[Table]:
    """The paired tests of ``summary/subgroup_comparisons.csv`` as one table (none if absent)."""
    if table is None or table.empty:
        return []
    rows = []
    for _, r in table.iterrows():
        est, lo, hi = (float(r.get(c, math.nan)) for c in ("estimate", "ci_low", "ci_high"))
        p, p_adj = float(r.get("p", math.nan)), float(r.get("p_adj", math.nan))
        note = r.get("note") if isinstance(r.get("note"), str) else ""
        rows.append(
            [
                Cell(id_name(str(r["config_a"]), templates)),
                Cell(id_name(str(r["config_b"]), templates)),
                Cell(f"{r['subgroup_column']} = {r['subgroup']}"),
                Cell(metric_label(str(r["metric"]))),
                Cell("–" if math.isnan(est) else f"{est:+.4f}"),
                Cell("–" if math.isnan(lo) else f"[{lo:.3f}, {hi:.3f}]"),
                Cell("–" if math.isnan(p) else f"{p:.3g}"),
                Cell(note if math.isnan(p_adj) else f"{p_adj:.3g}", bold=bool(r["significant"])),
            ]
        )
    return [
        Table(
            key="subgroup_comparisons",
            caption=(
                "The gap between two configurations within each subgroup "
                "(summary/subgroup_comparisons.csv): fold-aware paired bootstrap, patients "
                "resampled within fold and class; p corrected "
                f"({table['correction'].iloc[0]}) within each pair, subgroup column and metric; "
                "bold: significant."
            ),
            header=["A", "B", "Subgroup", "Metric", "A − B", "Interval", "p", "p corrected"],
            rows=rows,
            n_keys=3,
        )
    ]
