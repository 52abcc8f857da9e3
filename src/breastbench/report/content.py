"""Everything a report shows, gathered once and rendered twice (HTML and Markdown).

:func:`gather` reads the run folder, builds the tables, draws the figures into a working
folder and collects the protocol facts; :mod:`breastbench.report.html` and
:mod:`breastbench.report.markdown` only lay the same content out, so both formats always agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from breastbench.report.collect import Problem, RunCollection, collect_runs
from breastbench.report.compare import comparison_report_table, wilcoxon_statement
from breastbench.report.explain import explain
from breastbench.report.figures import FigureInfo, render_figures
from breastbench.report.protocol import (
    audit_lines,
    counts_table,
    environment_table,
    folds_table,
    timings_table,
)
from breastbench.report.summary import summarize
from breastbench.report.tables import Table, all_tables


@dataclass
class ReportContent:
    """The sections of a report, format-free."""

    title: str
    run_dir: Path
    banners: list[str]
    problems: list[Problem]
    results: list[Table]
    comparison: Table | None
    statistics: list[str]
    figures: list[FigureInfo]
    explain_figures: list[FigureInfo]
    explain_notes: list[str]
    data_tables: list[Table]
    protocol: list[str]
    environment: Table
    timings: Table | None
    extra_notes: list[str] = field(default_factory=list)

    def all_tables(self) -> list[Table]:
        """Every table, for the ``tables/`` folder."""
        tables = list(self.results)
        if self.comparison is not None:
            tables.append(self.comparison)
        tables += self.data_tables + [self.environment]
        return tables + ([self.timings] if self.timings is not None else [])


def banners(collection: RunCollection) -> list[str]:
    """Plain warnings for the top of the report: synthetic data, random weights."""
    out = []
    if collection.synthetic:
        out.append(
            "SYNTHETIC DATA: these runs used generated images, not real patient images. The "
            "numbers test the pipeline only and say nothing about breast imaging performance."
        )
    if collection.random_weights:
        out.append(
            "RANDOM WEIGHTS: some models started from random initialisation instead of "
            "pretrained weights, so zero-shot and linear-probe results are expected near chance."
        )
    return out


def resize_statement(collection: RunCollection) -> str:
    """The preprocessing rules the runs used (resize, stain normalisation), in one sentence."""
    rules: dict[str, set[str]] = {}
    stain = set()
    for run in collection.runs:
        prep = run.info.get("preprocessing") or {}
        rules.setdefault(str(prep.get("resize", "squash")), set()).add(run.key.model)
        stain.add(bool(prep.get("stain_norm", False)))
    parts = [f"{rule} ({', '.join(sorted(models))})" for rule, models in sorted(rules.items())]
    return (
        "Preprocessing: images resized by rule "
        + ("; ".join(parts) or "squash")
        + " (squash = resized to the input size ignoring aspect ratio, as in the studies; "
        "crop = shorter side then centre crop, as timm/open_clip evaluation transforms)"
        + ("; Macenko stain normalisation on." if True in stain else "; no stain normalisation.")
    )


def gather(
    run_dir: Path, work_dir: Path, *, explain_maps: bool = True, collection=None
) -> ReportContent:
    """Read ``run_dir`` and produce every section; figures are written under ``work_dir``."""
    collection = collection or collect_runs(run_dir)
    summaries = summarize(collection)
    comparisons = collection.summary.get("comparisons")
    compare_notes = list(collection.analysis.get("notes") or [])
    if comparisons is not None and not comparisons.empty:
        wil = comparisons[comparisons["test"] == "wilcoxon"]
        folds = sorted({int(n) for n in wil["n"]})
    else:
        folds = sorted({s.n_folds for s in summaries if s.n_folds > 1 and not s.missing})
    statistics = [wilcoxon_statement(k) for k in folds] + compare_notes
    statistics.append(resize_statement(collection))
    figures = render_figures(summaries, work_dir / "figures")
    if explain_maps:
        explain_figures, explain_notes = explain(summaries, work_dir / "figures")
    else:
        explain_figures, explain_notes = [], ["Explainability maps were not requested."]
    data_tables, protocol = [], []
    for name, df in collection.manifests.items():
        data_tables.append(counts_table(name, df))
        fold_sizes = folds_table(name, df)
        if fold_sizes is not None:
            data_tables.append(fold_sizes)
        protocol += audit_lines(name, df)
    if not collection.manifests:
        protocol.append("No manifests/ folder: data counts and the leakage audit are unavailable.")
    from breastbench.report.robustness import robustness_section

    robust_tables, robust_figures, robust_notes = robustness_section(run_dir, work_dir / "figures")
    return ReportContent(
        title=f"breastbench report: {Path(run_dir).resolve().name}",
        run_dir=Path(run_dir),
        banners=banners(collection),
        problems=collection.problems,
        results=all_tables(summaries) + robust_tables,
        comparison=comparison_report_table(comparisons, collection.analysis),
        statistics=statistics + robust_notes,
        figures=figures + robust_figures,
        explain_figures=explain_figures,
        explain_notes=explain_notes,
        data_tables=data_tables,
        protocol=protocol,
        environment=environment_table(collection),
        timings=timings_table(summaries),
    )
