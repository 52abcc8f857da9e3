"""``report.md``: the same sections as the HTML page, for GitHub, a wiki or a paper draft.

Figures are linked relative to the report folder (``figures/<name>.png``); every figure file
name is made of ``[a-z0-9_-]`` only (model labels never reach a file name undecoded), and the
link is percent-quoted anyway, so the links resolve in every Markdown renderer.
"""

from __future__ import annotations

from urllib.parse import quote

from breastbench.report.content import ReportContent
from breastbench.report.writers import to_markdown


def _table(table) -> list[str]:
    lines = [f"*{table.caption}*", "", to_markdown(table)]
    lines += [f"- {note}" for note in table.notes]
    return lines + [""]


def _figure(fig) -> list[str]:
    return [
        f"![{fig.title}](figures/{quote(fig.path.name)})",
        "",
        f"*{fig.title}.* {fig.caption}",
        "",
    ]


def render_markdown(content: ReportContent) -> str:
    """The report as one Markdown document."""
    lines = [f"# {content.title}", ""]
    lines += [f"> **{banner}**\n" for banner in content.banners]
    if content.problems:
        lines.append(
            f"**{len(content.problems)} run(s) missing or unreadable** (marked in tables):"
        )
        lines += [f"- {p}" for p in content.problems] + [""]
    lines += ["## The answer per subset", ""]
    if content.significance:
        lines += [content.significance, ""]
    for sub in content.subsets:
        lines += [f"### {sub.name}", "", sub.sentence, ""]
        for fig in sub.figures:
            lines += _figure(fig)
    lines += ["## Results", ""]
    for table in content.results:
        lines += _table(table)
    lines += ["## Statistics", ""]
    lines += [f"{line}\n" for line in content.statistics]
    if content.comparison is not None:
        lines += [
            f"The full comparisons table ({content.significance}) is in "
            "[tables/comparisons.csv](tables/comparisons.csv).",
            "",
        ]
    lines += ["## Published vs ours", ""]
    for table in content.published:
        lines += _table(table)
    lines += [f"- {note}" for note in content.published_notes] + [""]
    lines += ["## Calibration and subgroups", ""]
    lines += [f"- {note}" for note in content.calibration_notes] + [""]
    for fig in content.calibration_figures:
        lines += _figure(fig)
    for table in content.subgroups:
        lines += _table(table)
    lines += ["## Figures", ""]
    group = None
    for fig in content.figures:
        if fig.group != group:
            group = fig.group
            lines += [f"### {group or 'other'}", ""]
        lines += _figure(fig)
    lines += ["## Explainability", ""]
    lines += [f"- {note}" for note in content.explain_notes] + [""]
    for fig in content.explain_figures:
        lines += _figure(fig)
    lines += ["## Protocol", ""]
    lines += [f"- {line}" for line in content.protocol] + [""]
    for table in content.data_tables:
        lines += _table(table)
    lines += _table(content.environment)
    if content.timings is not None:
        lines += _table(content.timings)
    return "\n".join(lines).rstrip() + "\n"
