"""Everything a report shows, gathered once and rendered twice (HTML and Markdown).

:func:`gather` reads the run folder, builds the tables, draws the figures into a working
folder and collects the protocol facts; :mod:`breastbench.report.html` and
:mod:`breastbench.report.markdown` only lay the same content out, so both formats always agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from breastbench.report.calibration import (
    reliability_figures,
    subgroup_comparison_table,
    subgroup_tables,
)
from breastbench.report.collect import RunCollection, collect_runs
from breastbench.report.compare import (
    comparison_report_table,
    significance_count,
    wilcoxon_statement,
)
from breastbench.report.curves import Curves
from breastbench.report.explain import default_selection, explain
from breastbench.report.figures import render_figures
from breastbench.report.headline import Subset, answer, names_reference
from breastbench.report.names import humanize, problem_name, templates_of
from breastbench.report.plotting import FigureInfo
from breastbench.report.protocol import (
    audit_lines,
    counts_table,
    environment_table,
    folds_table,
    grouping_table,
    timings_table,
)
from breastbench.report.published import matches, published_p_table, published_table
from breastbench.report.spec import PublishedValue, ReportSpec
from breastbench.report.summary import summarize
from breastbench.report.tables import Table, all_tables


@dataclass
class ReportContent:
    """The sections of a report, format-free."""

    title: str
    run_dir: Path
    banners: list[str]
    problems: list[str]
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
    subsets: list[Subset] = field(default_factory=list)
    significance: str = ""
    published: list[Table] = field(default_factory=list)
    published_notes: list[str] = field(default_factory=list)
    calibration_notes: list[str] = field(default_factory=list)
    calibration_figures: list[FigureInfo] = field(default_factory=list)
    subgroups: list[Table] = field(default_factory=list)

    def all_tables(self) -> list[Table]:
        """Every table, for the ``tables/`` folder."""
        tables = list(self.results)
        if self.comparison is not None:
            tables.append(self.comparison)
        tables += self.published + self.subgroups
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
            "RANDOM WEIGHTS: some models started from random initialisation, not pretrained "
            "weights. Their scores measure how well a random network's features separate these "
            "images: a random CLIP's zero-shot AUC can land anywhere in [0, 1] (even 0, a "
            "label flip), and trained heads on random features can still score high on easy "
            "synthetic images. None of it says how the pretrained model would do."
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


def scope_banner(collection) -> list[str]:
    """The one line saying which runs ``--only`` left out (none without ``--only``)."""
    from breastbench.results.scope import not_selected_line

    only = collection.analysis.get("only") or []
    left_out = collection.analysis.get("not_selected") or 0
    return [not_selected_line(only, left_out, len(collection.runs))] if only else []


def _data_section(collection: RunCollection) -> tuple[list, list[str]]:
    """Counts, fold sizes and grouping tables, and the leakage audit, per saved manifest."""
    data_tables, protocol = [], []
    for name, df in collection.manifests.items():
        data_tables.append(counts_table(name, df))
        fold_sizes = folds_table(name, df)
        if fold_sizes is not None:
            data_tables.append(fold_sizes)
        protocol += audit_lines(name, df)
        grouping = grouping_table(name, df)
        if grouping is not None:
            data_tables.append(grouping)
    if not collection.manifests:
        protocol.append("No manifests/ folder: data counts and the leakage audit are unavailable.")
    return data_tables, protocol


def _published_section(published, summaries, comparisons, templates) -> tuple[list, list[str]]:
    """The published-values tables and what could not be matched."""
    pub_notes = []
    table, missing = published_table(published, summaries)
    p_table, p_missing = published_p_table(published, comparisons, templates)
    pub_tables = [t for t in (table, p_table) if t is not None]
    if published and missing + p_missing:
        pub_notes.append(
            f"{missing + p_missing} of {len(published)} published values match no configuration "
            "or comparison of this run (not run here)."
        )
    if not published:
        pub_notes.append("The experiment file declares no published: values to compare with.")
    return pub_tables, pub_notes


def gather(
    run_dir: Path, work_dir: Path, *, explain_maps: bool = True, collection=None
) -> ReportContent:
    """Read ``run_dir`` and produce every section; figures are written under ``work_dir``."""
    collection = collection or collect_runs(run_dir)
    summaries = summarize(collection)
    raw = experiment_raw(collection)
    published, report_spec = settings(raw)
    comparisons = collection.summary.get("comparisons")
    templates = templates_of(collection.runs)
    compare_notes = [humanize(n, templates) for n in collection.analysis.get("notes") or []]
    if comparisons is not None and not comparisons.empty:
        wil = comparisons[comparisons["test"] == "wilcoxon"]
        folds = sorted({int(n) for n in wil["n"]})
    else:
        folds = sorted({s.n_folds for s in summaries if s.n_folds > 1 and not s.missing})
    statistics = [wilcoxon_statement(k) for k in folds] + compare_notes
    statistics.append(resize_statement(collection))
    figures = render_figures(summaries, work_dir / "figures", Curves(collection.summary))
    order = [str(m.get("label") or m.get("name")) for m in raw.get("models") or []]
    subsets = answer(
        summaries,
        comparisons,
        collection.summary.get("metrics_by_run"),
        work_dir / "figures",
        order,
    )
    if explain_maps:
        selection, how = explain_selection(summaries, report_spec, collection, raw)
        explain_figures, explain_notes = explain(
            summaries, work_dir / "figures", selection=selection, how=how
        )
    else:
        explain_figures, explain_notes = [], ["Explainability maps were not requested."]
    data_tables, protocol = _data_section(collection)
    pub_tables, pub_notes = _published_section(published, summaries, comparisons, templates)
    name = str(raw.get("name") or Path(run_dir).resolve().name)
    from breastbench.report.robustness import robustness_section

    robust_tables, robust_figures, robust_notes = robustness_section(run_dir, work_dir / "figures")
    return ReportContent(
        title=f"{name}: breastbench report",
        run_dir=Path(run_dir),
        banners=banners(collection) + scope_banner(collection),
        problems=[
            f"{problem_name(p, templates)}: {humanize(p.reason, templates)}"
            for p in collection.problems
        ],
        results=all_tables(summaries) + robust_tables,
        comparison=comparison_report_table(
            comparisons, collection.analysis, templates, collection.summary.get("power")
        ),
        statistics=statistics + robust_notes,
        figures=figures + robust_figures,
        explain_figures=explain_figures,
        explain_notes=explain_notes,
        data_tables=data_tables,
        protocol=protocol,
        environment=environment_table(collection),
        timings=timings_table(summaries),
        subsets=subsets,
        significance=significance_count(comparisons),
        published=pub_tables,
        published_notes=pub_notes,
        calibration_notes=calibration_notes(collection),
        calibration_figures=reliability_figures(
            summaries, collection.summary.get("reliability"), work_dir / "figures"
        ),
        subgroups=subgroup_tables(collection.summary.get("subgroups"), templates)
        + subgroup_comparison_table(collection.summary.get("subgroup_comparisons"), templates),
    )


def experiment_raw(collection: RunCollection) -> dict:
    """The run folder's saved experiment file as plain data (empty when unreadable)."""
    import yaml

    from breastbench.results import RunFolder

    try:
        raw = yaml.safe_load(RunFolder(collection.root).config_path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}
    return raw if isinstance(raw, dict) else {}


def settings(raw: dict) -> tuple[list[PublishedValue], ReportSpec]:
    """The ``published:`` and ``report:`` sections, validated (one-line UserError when bad)."""
    from breastbench.schema import from_dict

    entries = raw.get("published") or []
    published = [from_dict(PublishedValue, e, f"published[{i}]") for i, e in enumerate(entries)]
    return published, from_dict(ReportSpec, raw.get("report") or {}, "report")


def explain_selection(summaries, spec: ReportSpec, collection: RunCollection, raw: dict):
    """The configurations that get maps (``report.explain`` or the reference pair) and why."""
    if spec.explain:
        chosen = [
            s
            for sel in spec.explain
            for s in summaries
            if s.shots is None and not s.external and s.runs and matches(s.key, sel)
        ]
        listed = ", ".join(str(sel) for sel in spec.explain)
        return chosen, f"Maps for the configurations named in report.explain ({listed})."
    order = [str(m.get("label") or m.get("name")) for m in raw.get("models") or []]
    return default_selection(summaries, reference_id(collection), order)


def reference_id(collection: RunCollection) -> str | None:
    """The configuration id every reference comparison shares (None without a reference)."""
    comps = collection.summary.get("comparisons")
    if comps is None or "reference" not in comps.columns:
        return None
    rows = comps[names_reference(comps)]
    if rows.empty:
        return None
    ids = pd.concat([rows["config_a"], rows["config_b"]]).astype(str)
    return str(ids.value_counts().index[0])


def calibration_notes(collection: RunCollection) -> list[str]:
    """What the calibration and subgroup section can show from ``summary/``."""
    notes = []
    if "reliability" not in collection.summary:
        notes.append(
            "No summary/reliability.csv in this run folder (an older analysis): calibration "
            "curves per configuration are not shown; the pooled reliability diagrams below "
            "are descriptive."
        )
    if "subgroups" not in collection.summary:
        notes.append(
            "No summary/subgroups.csv in this run folder: no subgroup breakdown (set "
            "analysis.subgroups to manifest columns; README, Subgroups)."
        )
    return notes
