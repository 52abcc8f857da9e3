"""The one analysis of a run folder: per-run metrics, mean ± interval, comparisons.

Run once after the grid (``breastbench run``) and by ``breastbench report``; it reads only the
run folders' files and writes ``summary/``:

- ``metrics_by_run.csv``: one row per complete run (key fields + every metric);
- ``aggregate.csv``: per configuration and metric, mean, sample std (ddof=1), n, ``unit`` (what
  n counts: folds of a cross-validation, training seeds of an external validation) and a 95%
  interval named in ``ci_method`` (logit-scale t for bounded metrics, so it stays in range).
  Support draws of a label-efficiency run share their fold's test set, so they are averaged
  within the fold first: n counts independent test sets, never folds x draws;
- ``pooled.csv``: per cross-validated configuration, metrics over the pooled out-of-fold
  predictions, per image and per patient; descriptive only (they mix differently calibrated fold
  models) and used by no test; with support draws, the mean over draws of each draw's pooled
  metrics (never an ensemble of draws);
- ``comparisons.csv``: the only comparisons table, pairs chosen by ``compare:``
  (:mod:`breastbench.results.spec`), two tests per pair and metric, one primary: the fold-aware
  bootstrap (the mean over folds of the within-fold difference, resampling patients within each
  fold) and the Wilcoxon signed-rank test over folds/seeds, corrected within the chosen family;
- ``reliability.csv``: reliability-curve points per configuration (from the calibration
  module), so the report only draws them;
- ``roc.csv``, ``confusion.csv``, ``reliability_pooled.csv``, ``loss_curves.csv``: the points
  of the report's pooled curves and loss curves (:mod:`breastbench.results.curves`);
- ``subgroups.csv`` and ``subgroup_comparisons.csv``: per-subgroup metrics with
  patient-clustered intervals, the worst subgroup, and paired tests of the gap within each
  subgroup for the compared pairs (:mod:`breastbench.results.subgroups`);
- ``analysis.json``: the compare spec used, the bootstrap size, notes and problems.

The report renders these files and recomputes nothing.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from breastbench import jsonio
from breastbench.results.comparisons import comparisons, config_label
from breastbench.results.folder import RunFolder
from breastbench.results.layout import SUMMARY_TABLES
from breastbench.results.spec import CompareSpec
from breastbench.results.tables import aggregate, pooled, run_table

__all__ = ["SUMMARY_TABLES", "analyse", "spec_of", "write_summary"]


def analyse(
    folder: RunFolder, spec: CompareSpec | None = None, only: list[str] | None = None
) -> dict:
    """Run the whole analysis (of the runs ``only`` selects); return its tables (not written)."""
    from breastbench.results.calibration import reliability_table
    from breastbench.results.curves import curve_tables
    from breastbench.results.scope import scope
    from breastbench.results.subgroups import subgroup_analysis

    spec = spec or CompareSpec()
    runs, problems, not_selected = scope(*folder.collect(), only)
    order = [k.config for k in folder.expected_keys() or []]
    comps, notes, facts = comparisons(runs, spec, order)
    groups, group_tests, group_notes = subgroup_analysis(folder, runs, spec, order)
    return {
        "runs": runs,
        "problems": problems,
        "metrics_by_run": run_table(runs),
        "aggregate": aggregate(runs, problems),
        "pooled": pooled(runs),
        "comparisons": comps,
        "reliability": reliability_table(runs, config_label),
        **curve_tables(runs),
        "subgroups": groups,
        "subgroup_comparisons": group_tests,
        "notes": notes + group_notes,
        "facts": facts,
        "spec": spec,
        "only": list(only or []),
        "not_selected": not_selected,
    }


def write_summary(
    out_dir: str | Path, spec: CompareSpec | None = None, only: list[str] | None = None
) -> dict:
    """Analyse ``out_dir`` (the runs ``only`` selects) and write ``summary/``; return it."""
    folder = RunFolder(out_dir)
    result = analyse(folder, spec or spec_of(folder), only)
    for name in SUMMARY_TABLES:
        path = folder.summary_path(name)
        df = result[name]
        if df.empty:
            path.unlink(missing_ok=True)
            continue
        jsonio.atomic_write_csv(df, path)
    from breastbench.results.robustness import write_robustness

    write_robustness(folder, result["runs"])
    spec = result["spec"]
    facts = result["facts"]
    notes = list(result["notes"])
    if facts["largest_family"]:
        notes.append(
            f"Bootstrap tests use {facts['n_boot']} resamples: the largest correction family "
            f"has {facts['largest_family']} comparisons, so the smallest attainable corrected "
            f"p-value is {facts['min_corrected_p']:.3g} (< alpha = {spec.alpha:g}). "
            f"{facts['n_significant']} of {facts['n_primary']} primary comparisons are "
            f"significant after {spec.correction} correction."
        )
    jsonio.write_json(
        folder.analysis_path,
        {
            "compare": asdict(spec),
            "default_pairs": not spec.pairs and spec.reference is None,
            "bootstrap": facts,
            "notes": notes,
            "problems": [{"run_id": p.name, "reason": p.reason} for p in result["problems"]],
            "n_runs": len(result["runs"]),
            "only": result["only"],
            "not_selected": result["not_selected"],
        },
    )
    return result


def spec_of(folder: RunFolder) -> CompareSpec:
    """The ``compare:`` section of the folder's saved experiment.yaml (default when absent)."""
    import yaml

    from breastbench.schema import from_dict

    try:
        raw = yaml.safe_load(folder.config_path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return CompareSpec()
    section = raw.get("compare") if isinstance(raw, dict) else None
    if isinstance(section, list):
        section = {"pairs": section}
    return from_dict(CompareSpec, section or {}, "compare")
