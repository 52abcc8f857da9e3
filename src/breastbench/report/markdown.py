"""``report.md``: the same sections as the HTML page, for GitHub, a wiki or a paper draft.

Figures are linked relative to the report folder (``figures/<name>.png``), so the Markdown file
renders wherever the whole report folder is copied.
"""

from __future__ import annotations

from breastbench.report.content import ReportContent
from breastbench.report.writers import to_markdown


def _table(table) -> list[str]:
    lines = [f"*{table.caption}*", "", to_markdown(table)]
    lines += [f"- {note}" for note in table.notes]
    return lines + [""]


def render_markdown(content: ReportContent) -> str:
    """The report as one Markdown document."""
    lines = [f"# {content.title}", ""]
    lines += [f"> **{banner}**\n" for banner in content.banners]
    if content.problems:
        lines.append(
            f"**{len(content.problems)} run(s) missing or unreadable** (marked in tables):"
        )
        lines += [f"- `{p.name}`: {p.reason}" for p in content.problems] + [""]
    lines += ["## Results", ""]
    for table in content.results:
        lines += _table(table)
    lines += ["## Statistics", ""]
    lines += [f"{line}\n" for line in content.statistics]
    if content.comparison is not None:
        lines += _table(content.comparison)
    lines += ["## Figures", ""]
    for fig in content.figures:
        lines += [
            f"![{fig.title}](figures/{fig.path.name})",
            "",
            f"*{fig.title}.* {fig.caption}",
            "",
        ]
    lines += ["## Explainability", ""]
    for fig in content.explain_figures:
        lines += [
            f"![{fig.title}](figures/{fig.path.name})",
            "",
            f"*{fig.title}.* {fig.caption}",
            "",
        ]
    lines += [f"- {note}" for note in content.explain_notes] + [""]
    lines += ["## Protocol", ""]
    lines += [f"- {line}" for line in content.protocol] + [""]
    for table in content.data_tables:
        lines += _table(table)
    lines += _table(content.environment)
    if content.timings is not None:
        lines += _table(content.timings)
    return "\n".join(lines).rstrip() + "\n"
