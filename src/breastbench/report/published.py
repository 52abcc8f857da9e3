"""Published vs ours: the config's ``published:`` values beside this run's numbers.

For every published mean, each configuration of the run that its selector matches gets a row:
published mean ± std, our mean and interval (``summary/aggregate.csv``), the difference (ours −
published) and whether the published mean lies inside our interval. Published p-values
(entries with ``versus``) sit beside the p-value of the same test in ``summary/comparisons.csv``.
Entries that match nothing in this run (e.g. a ``--only`` run) are counted in a note.
"""

from __future__ import annotations

import math

import pandas as pd

from breastbench.report.names import id_name
from breastbench.report.spec import PublishedValue
from breastbench.report.summary import ConfigSummary
from breastbench.report.tables import Cell, Table, metric_label
from breastbench.results import RunIdError, RunKey
from breastbench.results.spec import selector


def matches(key: RunKey, sel: str | dict) -> bool:
    """True when every field the selector names equals the key's (as text for numbers).

    External-validation configurations match only selectors that name ``external``.
    """
    norm = selector(sel, "published")
    if "external" not in norm and key.external is not None:
        return False  # an external validation is only matched when the selector names it
    return all(getattr(key, k) == v or str(getattr(key, k)) == str(v) for k, v in norm.items())


def _f(x: float, digits: int = 4) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def published_table(
    values: list[PublishedValue], summaries: list[ConfigSummary]
) -> tuple[Table | None, int]:
    """Published means beside ours; also the number of entries that matched nothing."""
    rows, unmatched = [], 0
    for pub in values:
        if pub.mean is None:
            continue
        hits = [
            s
            for s in summaries
            if s.shots is None and matches(s.key, pub.config) and pub.metric in s.mean
        ]
        if not hits:
            unmatched += 1
        for s in hits:
            mean = s.mean[pub.metric]
            lo, hi = s.ci.get(pub.metric, (math.nan, math.nan))
            inside = "no interval" if math.isnan(lo) else ("yes" if lo <= pub.mean <= hi else "no")
            published = _f(pub.mean) + ("" if pub.std is None else f" ± {pub.std:.3f}")
            ours = _f(mean) + ("" if math.isnan(lo) else f" [{_f(lo)}, {_f(hi)}]")
            rows.append(
                [
                    Cell(pub.source),
                    Cell(s.subset),
                    Cell(s.name),
                    Cell(metric_label(pub.metric)),
                    Cell(published),
                    Cell(ours),
                    Cell(f"{mean - pub.mean:+.4f}"),
                    Cell(inside),
                ]
            )
    if not rows:
        return None, unmatched
    return (
        Table(
            key="published_vs_ours",
            caption=(
                "Published vs ours: the experiment file's published: values beside this run's "
                "mean over folds and its interval (summary/aggregate.csv). Difference = ours − "
                "published; last column: does the published mean lie inside our interval?"
            ),
            header=[
                "Source",
                "Subset",
                "Configuration",
                "Metric",
                "Published",
                "Ours [interval]",
                "Difference",
                "Published inside ours",
            ],
            rows=rows,
            n_keys=4,
        ),
        unmatched,
    )


def published_p_table(
    values: list[PublishedValue], comparisons: pd.DataFrame | None, templates: dict[str, str]
) -> tuple[Table | None, int]:
    """Published p-values beside ours (same test and metric, either order of the pair)."""
    if comparisons is None or comparisons.empty:
        return None, sum(1 for v in values if v.versus is not None)
    rows, unmatched = [], 0
    records = comparisons.to_dict("records")
    for pub in values:
        if pub.versus is None:
            continue
        found = False
        for r in records:
            if r["metric"] != pub.metric or r["test"] != pub.test:
                continue
            try:
                a, b = RunKey.parse(str(r["config_a"])), RunKey.parse(str(r["config_b"]))
            except RunIdError:
                continue
            same = matches(a, pub.config) and matches(b, pub.versus)
            swapped = matches(b, pub.config) and matches(a, pub.versus)
            if not (same or swapped):
                continue
            found = True
            rows.append(
                [
                    Cell(pub.source),
                    Cell(str(r["subset"])),
                    Cell(
                        f"{id_name(r['config_a'], templates)} vs "
                        + id_name(r["config_b"], templates)
                    ),
                    Cell(metric_label(pub.metric)),
                    Cell(pub.test),
                    Cell(f"{pub.p:.3g}"),
                    Cell(f"{float(r['p']):.3g}" if r["p"] == r["p"] else "n/a"),
                    Cell(f"{float(r['p_adj']):.3g}" if r["p_adj"] == r["p_adj"] else "n/a"),
                ]
            )
        unmatched += not found
    if not rows:
        return None, unmatched
    return (
        Table(
            key="published_p_vs_ours",
            caption=(
                "Published p-values vs ours: the same test and metric on this run's folds "
                "(summary/comparisons.csv), uncorrected and corrected."
            ),
            header=[
                "Source",
                "Subset",
                "Comparison",
                "Metric",
                "Test",
                "Published p",
                "Our p",
                "Our corrected p",
            ],
            rows=rows,
            n_keys=4,
        ),
        unmatched,
    )
