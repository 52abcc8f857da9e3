"""The paired-statistics table of the report, rendered from ``summary/comparisons.csv``.

The pairs, tests and corrections were chosen and computed once by the analysis
(:mod:`breastbench.results.analysis`, driven by the config's ``compare:``); this module only
lays the rows out and states what a small-n Wilcoxon test can and cannot show.
"""

from __future__ import annotations

import math

import pandas as pd

from breastbench.metrics.stats import min_wilcoxon_p
from breastbench.report.names import id_name
from breastbench.report.rows import estimate, significant
from breastbench.report.tables import Cell, Table, metric_label

TEST_LABELS = {
    "wilcoxon": "Wilcoxon",
    "mcnemar": "McNemar",
    "delong": "DeLong",
    "bootstrap": "paired bootstrap",
}
CORRECTION_LABELS = {"holm": "Holm", "bonferroni": "Bonferroni", "none": "uncorrected"}


def fmt_p(p: float) -> str:
    """Exact p with 3 significant digits (``0.0625``, ``1.2e-05``)."""
    return "n/a" if p is None or (isinstance(p, float) and math.isnan(p)) else f"{p:.3g}"


def _fmt(x: float, digits: int = 4) -> str:
    return "–" if x is None or math.isnan(x) else f"{x:+.{digits}f}"


def pair_name(a: str, b: str, templates: dict | None) -> str:
    """``A vs B`` in words; with each side's subset when the two differ in subset."""
    from breastbench.report.names import subset_name
    from breastbench.results import RunIdError, RunKey

    try:
        ka, kb = RunKey.parse(str(a)), RunKey.parse(str(b))
    except RunIdError:
        return f"{id_name(a, templates)} vs {id_name(b, templates)}"
    if subset_name(ka) == subset_name(kb):
        return f"{id_name(a, templates)} vs {id_name(b, templates)}"
    left = f"{id_name(a, templates)} ({subset_name(ka)})"
    return f"{left} vs {id_name(b, templates)} ({subset_name(kb)})"


def significance_count(table: pd.DataFrame | None) -> str:
    """``k of N comparisons significant after Holm correction`` (primary test when marked)."""
    if table is None or table.empty:
        return ""
    rows = table
    what = "comparisons"
    if "role" in table.columns and (table["role"] == "primary").any():
        rows, what = table[table["role"] == "primary"], "comparisons (primary test)"
    k = sum(significant(r) for r in rows.to_dict("records"))
    correction = str(rows["correction"].iloc[0]) if "correction" in rows else "holm"
    label = CORRECTION_LABELS.get(correction, correction)
    return f"{k} of {len(rows)} {what} significant after {label} correction."


def _power_cells(table: pd.DataFrame, power: pd.DataFrame | None) -> list[str] | None:
    """``MDD / patients needed`` per comparison row from ``summary/power.csv``, or None.

    A power row belongs to a bootstrap row of the same pair and metric with the same estimate
    (a power file older than the analysis is left out rather than shown beside other numbers).
    """
    if power is None or power.empty or "mdd" not in power.columns:
        return None
    rows = {
        (str(r["config_a"]), str(r["config_b"]), str(r["metric"])): r
        for r in power.to_dict("records")
    }
    cells, found = [], False
    for r in table.to_dict("records"):
        p = rows.get((str(r["config_a"]), str(r["config_b"]), str(r["metric"])))
        same = p is not None and r["test"] == "bootstrap"
        same = same and math.isclose(float(p["estimate"]), float(r["estimate"]), abs_tol=1e-9)
        if not same:
            cells.append("–")
            continue
        found = True
        needed = p.get("patients_needed")
        need = "–" if needed is None or math.isnan(float(needed)) else f"{int(needed)}"
        mdd = float(p["mdd"])
        cells.append(f"{'–' if math.isnan(mdd) else f'{mdd:.3f}'} / {need}")
    return cells if found else None


def comparison_report_table(
    table: pd.DataFrame | None,
    analysis: dict | None = None,
    templates: dict | None = None,
    power: pd.DataFrame | None = None,
) -> Table | None:
    """Pair, metric, test, n with its unit, exact p, adjusted p, effect and 95% CI.

    With ``power`` (``summary/power.csv``, written by ``breastbench power``) a column gives each
    bootstrap row's minimum detectable difference and the patients needed for its observed
    difference.
    """
    if table is None or table.empty:
        return None
    power_cells = _power_cells(table, power)
    correction = str(table["correction"].iloc[0]) if "correction" in table else "holm"
    adj = CORRECTION_LABELS.get(correction, correction)
    header = ["Subset", "Comparison (A vs B)", "Metric", "Test"]
    header += ["Role"] if "role" in table.columns else []
    header += ["n", "p", f"{adj} p"]
    header += ["Estimate (A − B)", "95% CI"]
    header += ["MDD / patients needed"] if power_cells else []
    rows = []
    for i, r in enumerate(table.to_dict("records")):
        ci = "–" if math.isnan(r["ci_low"]) else f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]"
        rows.append(
            [
                Cell(str(r["subset"])),
                Cell(pair_name(r["config_a"], r["config_b"], templates)),
                Cell(metric_label(r["metric"])),
                Cell(TEST_LABELS.get(r["test"], r["test"])),
                *([Cell(str(r["role"]))] if "role" in r else []),
                Cell(f"{int(r['n'])} {r['unit']}"),
                Cell(fmt_p(r["p"])),
                Cell(fmt_p(r["p_adj"]), bold=significant(r)),
                Cell(_fmt(estimate(r))),
                Cell(ci),
                *([Cell(power_cells[i])] if power_cells else []),
            ]
        )
    spec = (analysis or {}).get("compare") or {}
    which = (
        "every two configurations of one subset (same dataset, magnification, augmentation, "
        "text context and test set), the default without a compare: section"
        if (analysis or {}).get("default_pairs", True)
        else "the pairs listed in the config's compare: section"
    )
    family = spec.get("family", "subset")
    unit = "patients" if spec.get("unit", "patient") == "patient" else "images"
    alpha = float(spec.get("alpha", 0.05))
    primary = spec.get("primary", "bootstrap")
    return Table(
        key="comparisons",
        caption=(
            f"Paired comparisons of {which}; no configuration is chosen on test-fold scores. "
            "Per pair and metric: a fold-aware paired bootstrap (estimate = mean over folds, or "
            f"seeds of one test set, of the within-fold difference; {unit} resampled within each "
            "fold and class, so each fold model is scored only on its own test fold and no "
            "differently calibrated models are pooled) and the Wilcoxon signed-rank test over "
            f"paired replicates (exact p; effect = median difference). The {primary} rows are "
            f"primary. {adj} correction within each {family} family; bold: {adj} p < {alpha:g}. "
            "Source: summary/comparisons.csv." + (_power_caption(power) if power_cells else "")
        ),
        header=header,
        rows=rows,
        n_keys=4,
    )


def _power_caption(power: pd.DataFrame) -> str:
    first = power.iloc[0]
    what = (
        "the observed difference"
        if str(first.get("difference_source")) == "observed"
        else f"a difference of {float(first['difference']):g}"
    )
    return (
        f" MDD / patients needed (bootstrap rows): the smallest difference this design detects "
        f"with {float(first['power']):g} power, and the test patients (all folds) needed to "
        f"detect {what}, from studies simulated by resampling the run's patients within folds "
        "at alpha / family size (`breastbench power`; summary/power.csv)."
    )


def wilcoxon_statement(n_folds: int) -> str:
    """The plain statement on what a k-fold Wilcoxon test can and cannot show."""
    p = min_wilcoxon_p(n_folds)
    verdict = "can never reach" if p >= 0.05 else "can reach"
    return (
        f"With {n_folds} paired replicates the two-sided exact Wilcoxon signed-rank test "
        f"{verdict} p < 0.05: its smallest possible p-value is 2/2^{n_folds} = {p:.4g}, reached "
        "only when one configuration wins on every replicate. A Wilcoxon p above 0.05 here is "
        "therefore no evidence of equal performance; the fold-aware bootstrap uses every test "
        "patient of every fold and can detect a difference, and the correction accounts for the "
        "number of comparisons in the table."
    )
