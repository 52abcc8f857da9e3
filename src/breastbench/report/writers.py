r"""Render a :class:`~breastbench.report.tables.Table` as CSV, LaTeX, Markdown or HTML.

One table object, four renderings, so the numbers in the paper draft, the README and the HTML
report cannot drift apart. LaTeX output escapes every special character (``_ % & # $ { } ~ ^
\``) so model names such as ``cnn/test_resnet`` paste into a paper unchanged, and uses
booktabs rules (``\usepackage{booktabs}``).
"""

from __future__ import annotations

import csv
import html
import io

from breastbench.report.tables import Table

LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "±": r"$\pm$",
    "×": r"$\times$",
    "–": "--",
}


def latex_escape(text: str) -> str:
    """Escape ``text`` for LaTeX, character by character (so escapes are never re-escaped)."""
    return "".join(LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def to_csv(table: Table) -> str:
    """CSV with the displayed text; a final ``best`` column names the row's best metrics."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*table.header, "best"])
    for row in table.rows:
        best = ";".join(h for h, c in zip(table.header, row) if c.bold)
        writer.writerow([c.text for c in row] + [best])
    return buf.getvalue()


def to_latex(table: Table) -> str:
    r"""A ``table`` environment with booktabs rules; best values in ``\textbf``."""
    spec = "l" * table.n_keys + "r" * (len(table.header) - table.n_keys)
    lines = [
        r"\begin{table}[ht]",
        r"\centering",
        r"\caption{" + latex_escape(table.caption) + "}",
        r"\label{tab:" + latex_escape(table.key).replace("\\_", "-") + "}",
        r"\begin{tabular}{" + spec + "}",
        r"\toprule",
        " & ".join(latex_escape(h) for h in table.header) + r" \\",
        r"\midrule",
    ]
    for row in table.rows:
        cells = [
            r"\textbf{" + latex_escape(c.text) + "}" if c.bold else latex_escape(c.text)
            for c in row
        ]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return str(text).replace("|", r"\|")


def to_markdown(table: Table) -> str:
    """A GitHub-flavoured Markdown table; best values in ``**bold**``."""
    lines = [
        "| " + " | ".join(_md(h) for h in table.header) + " |",
        "|" + "|".join("---" for _ in table.header) + "|",
    ]
    for row in table.rows:
        cells = [f"**{_md(c.text)}**" if c.bold else _md(c.text) for c in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_html(table: Table) -> str:
    """An HTML ``<table>`` with a caption; best values in ``<strong>``, gaps classed."""
    out = [f'<table class="results" id="{html.escape(table.key)}">']
    out.append(f"<caption>{html.escape(table.caption)}</caption>")
    out.append("<thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in table.header))
    out.append("</tr></thead><tbody>")
    for row in table.rows:
        cells = []
        for c in row:
            text = html.escape(c.text)
            cls = ' class="missing"' if c.text == "missing" or "missing:" in c.text else ""
            cells.append(f"<td{cls}>" + (f"<strong>{text}</strong>" if c.bold else text) + "</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    if table.notes:
        items = "".join(f"<li>{html.escape(n)}</li>" for n in table.notes)
        out.append(f'<ul class="notes">{items}</ul>')
    return "\n".join(out)


WRITERS = {"csv": to_csv, "tex": to_latex, "md": to_markdown, "html": to_html}
