"""One self-contained ``report.html`` (plus report.md, tables/ and figures/) for a run folder.

The page must open anywhere, offline and forever: figures are embedded as base64 PNG data
URIs, the CSS is inline, and nothing is fetched from the network (no fonts, scripts or
stylesheets from a CDN). :func:`build_report` writes everything into a temporary folder next to
the destination and swaps it in at the end, so a crash never leaves a half-written report.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import os
import shutil
import tempfile
from pathlib import Path

from breastbench import jsonio
from breastbench.report.content import ReportContent, gather
from breastbench.report.markdown import render_markdown
from breastbench.report.plotting import FigureInfo
from breastbench.report.writers import to_csv, to_html, to_latex

CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 0;
       color: #1d232a; background: #fafbfc; line-height: 1.45; }
main { max-width: 1280px; margin: 0 auto; padding: 1.5rem 2rem 4rem; }
h1 { font-size: 1.7rem; margin: 0.2rem 0 0.8rem; }
h2 { font-size: 1.3rem; border-bottom: 2px solid #d0d7de; padding-bottom: 0.3rem;
     margin-top: 2.2rem; }
h3 { font-size: 1.05rem; margin: 1.4rem 0 0.4rem; }
.banner { background: #fff1f0; border: 2px solid #cf222e; color: #82071e; padding: 0.8rem 1rem;
          margin: 0.6rem 0; font-weight: 600; border-radius: 6px; }
.problems { background: #fff8c5; border: 1px solid #bf8700; padding: 0.6rem 1rem;
            border-radius: 6px; }
nav ul { columns: 2; font-size: 0.92rem; }
.scroll { overflow-x: auto; margin: 0.5rem 0 1rem; }
table.results { border-collapse: collapse; font-size: 0.84rem; background: white; }
table.results caption { caption-side: top; text-align: left; font-size: 0.85rem;
                        color: #57606a; padding: 0.3rem 0; max-width: 1200px; }
table.results th, table.results td { border: 1px solid #d0d7de; padding: 0.25rem 0.5rem;
                                     white-space: nowrap; text-align: left; }
table.results th { background: #f0f3f6; }
#comparisons td:nth-child(2) { white-space: normal; min-width: 16rem; }
table.results td.missing { background: #fff1f0; color: #82071e; }
ul.notes { font-size: 0.82rem; color: #57606a; }
figure { margin: 1rem 0 1.8rem; background: white; border: 1px solid #d0d7de;
         border-radius: 6px; padding: 0.6rem; }
figure img { max-width: 100%; height: auto; display: block; margin: 0 auto; }
figcaption { font-size: 0.85rem; color: #57606a; margin-top: 0.4rem; }
.meta { color: #57606a; font-size: 0.9rem; }
.banner { font-weight: 500; font-size: 0.85rem; padding: 0.4rem 0.8rem; }
nav { font-size: 0.85rem; margin: 0.4rem 0; }
p.answer { font-size: 1.05rem; background: #eef6ff; border-left: 4px solid #0969da;
           padding: 0.5rem 0.8rem; margin: 0.3rem 0; }
.pair { display: flex; flex-wrap: wrap; gap: 0.8rem; align-items: flex-start; }
.pair figure { flex: 1 1 45%; margin: 0.4rem 0 1rem; }
details { margin: 0.5rem 0; }
summary { cursor: pointer; }
"""


def data_uri(path: Path) -> str:
    """A PNG file as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _figure(fig: FigureInfo) -> str:
    return (
        f'<figure id="{html.escape(fig.key)}"><img alt="{html.escape(fig.title)}" '
        f'src="{data_uri(fig.path)}"><figcaption><strong>{html.escape(fig.title)}.</strong> '
        f"{html.escape(fig.caption)}</figcaption></figure>"
    )


def _table(table) -> str:
    return f'<div class="scroll">{to_html(table)}</div>'


def _list(items: list[str], cls: str = "") -> str:
    attr = f' class="{cls}"' if cls else ""
    return f"<ul{attr}>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>"


def _answer(content: ReportContent) -> list[str]:
    parts = []
    if content.significance:
        parts.append(f'<p class="meta">{html.escape(content.significance)}</p>')
    for sub in content.subsets:
        parts.append(f'<h3 id="{sub.key}">{html.escape(sub.name)}</h3>')
        parts.append(f'<p class="answer">{html.escape(sub.sentence)}</p>')
        parts.append('<div class="pair">' + "".join(_figure(f) for f in sub.figures) + "</div>")
    return parts


def _grouped_figures(figures: list[FigureInfo]) -> list[str]:
    """Figures under one collapsed block per subset (group), so the page stays short."""
    groups: dict[str, list[FigureInfo]] = {}
    for fig in figures:
        groups.setdefault(fig.group or "other", []).append(fig)
    parts = []
    for group, figs in groups.items():
        titles = ", ".join(sorted({f.title.split(": ")[-1] for f in figs}))
        parts.append(
            f"<details><summary><strong>{html.escape(group)}</strong> "
            f'<span class="meta">({len(figs)} figures: {html.escape(titles)})</span></summary>'
            + "".join(_figure(f) for f in figs)
            + "</details>"
        )
    return parts


def _calibration(content: ReportContent) -> list[str]:
    parts = [_list(content.calibration_notes, "notes")] if content.calibration_notes else []
    if content.calibration_figures:
        parts += _grouped_figures(content.calibration_figures)
    return parts + [_collapsed(t) for t in content.subgroups]


def _collapsed(table) -> str:
    """A subgroup table folded under its caption's title, with its row count and CSV.

    The subgroup tables have a row per configuration, metric and group (576 in the demo, 30,000
    px open); folded, the page stays readable.
    """
    title = table.caption.split(": ")[0].split(". ")[0]
    worst = sum(1 for row in table.rows if row and row[-1].text == "worst")
    marked = f", {worst} worst groups marked" if worst else ""
    return _folded(table, title, f"{len(table.rows)} rows{marked}")


def _folded(table, title: str, note: str) -> str:
    """A long table behind one summary line: title, note and a link to ``tables/<key>.csv``."""
    return (
        f"<details><summary><strong>{html.escape(title)}</strong> "
        f'<span class="meta">({html.escape(note)})</span> · '
        f'<a href="tables/{html.escape(table.key)}.csv" download>download CSV</a></summary>'
        + _table(table)
        + "</details>"
    )


def _published(content: ReportContent) -> list[str]:
    parts = [_table(t) for t in content.published]
    return parts + ([_list(content.published_notes, "notes")] if content.published_notes else [])


def render_html(content: ReportContent) -> str:
    """The complete page as one string: the answer first, then tables, statistics, figures."""
    sections = [
        ("answer", "The answer per subset", _answer(content)),
        ("results", "Results", [_table(t) for t in content.results]),
        ("statistics", "Statistics", _statistics(content)),
        ("published", "Published vs ours", _published(content)),
        ("calibration", "Calibration and subgroups", _calibration(content)),
        ("figures", "Figures", _grouped_figures(content.figures)),
        ("explainability", "Explainability", _explain(content)),
        ("protocol", "Protocol", _protocol(content)),
    ]
    body = [f"<h1>{html.escape(content.title)}</h1>"]
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    body.append(f'<p class="meta">Run folder: {html.escape(str(content.run_dir))} · {stamp}</p>')
    body += [f'<div class="banner">{html.escape(b)}</div>' for b in content.banners]
    if content.problems:
        body.append(
            f'<div class="problems"><strong>{len(content.problems)} run(s) missing or '
            "unreadable; their gaps are marked in the tables.</strong>"
            + _list(content.problems)
            + "</div>"
        )
    links = [f'<a href="#{key}">{title}</a>' for key, title, _ in sections]
    links += [f'<a href="#{s.key}">{html.escape(s.name)}</a>' for s in content.subsets]
    body.append("<nav>" + " · ".join(links) + "</nav>")
    for key, title, parts in sections:
        body.append(f'<section id="{key}"><h2>{title}</h2>')
        body += parts or ["<p>Nothing to show.</p>"]
        body.append("</section>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(content.title)}</title><style>{CSS}</style></head>"
        "<body><main>\n" + "\n".join(body) + "\n</main></body></html>\n"
    )


def _statistics(content: ReportContent) -> list[str]:
    parts = [f"<p>{html.escape(line)}</p>" for line in content.statistics]
    if content.comparison is not None:
        title = f"All {len(content.comparison.rows)} comparison rows"
        parts.append(_folded(content.comparison, title, content.significance))
    else:
        parts.append("<p>No pair of configurations with at least two folds to compare.</p>")
    return parts


def _explain(content: ReportContent) -> list[str]:
    parts = [_list(content.explain_notes, "notes")] if content.explain_notes else []
    return parts + [_figure(f) for f in content.explain_figures]


def _protocol(content: ReportContent) -> list[str]:
    parts = ["<h3>Data, folds and leakage audit</h3>", _list(content.protocol)]
    parts += [_table(t) for t in content.data_tables]
    parts += ["<h3>Environment</h3>", _table(content.environment)]
    if content.timings is not None:
        parts += ["<h3>Wall times</h3>", _table(content.timings)]
    return parts


def _umask() -> int:
    """The process umask (read by setting and restoring it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _swap_in(tmp: Path, out: Path) -> None:
    """Replace ``out`` by ``tmp`` with renames only (never a half-written report).

    ``out`` is a real folder already checked to hold only this report's own files
    (:func:`breastbench.results.outdir.report_destination`), so nothing else is removed.
    """
    old = None
    if out.exists():
        old = out.with_name(f".old-{out.name}-{os.getpid()}")
        os.replace(out, old)
    try:
        os.replace(tmp, out)
    except BaseException:
        if old is not None:
            os.replace(old, out)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def build_report(
    run_dir: str | os.PathLike,
    out_dir=None,
    *,
    explain_maps: bool = True,
    log=None,
    analyse: bool = True,
    collection=None,
    only: list[str] | None = None,
) -> Path:
    """Write the report of ``run_dir`` (default ``RUN_DIR/report``); return report.html.

    With ``analyse`` (the default) the analysis runs first and refreshes ``summary/`` (with the
    folder's own ``compare:`` section); the report then renders those files. ``log``, when
    given, receives one line per missing or unreadable run. The destination is checked before
    anything is written: never the run folder itself or one of its subfolders, never a folder
    holding files the report did not write (see :mod:`breastbench.results.outdir`). ``only``
    scopes the analysis and the report to the runs it selects (``--only``); the others are one
    "not selected" line.
    """
    from breastbench.results import RunFolder
    from breastbench.results.outdir import (
        report_destination,
        sweep_siblings,
        user_path,
        write_report_marker,
    )

    run_dir = user_path(run_dir)
    folder = RunFolder(run_dir)
    folder.require()
    out = report_destination(out_dir if out_dir is not None else folder.report_dir, run_dir)
    if analyse:
        from breastbench.report.collect import collect_runs
        from breastbench.results.analysis import write_summary

        result = write_summary(run_dir, only=only)
        collection = collect_runs(run_dir, (result["runs"], result["problems"]))
        if log is not None and result["not_selected"]:
            from breastbench.results.scope import not_selected_line

            log(not_selected_line(only, result["not_selected"], len(result["runs"])))
    out.parent.mkdir(parents=True, exist_ok=True)
    sweep_siblings(out)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{out.name}-{os.getpid()}-", dir=out.parent))
    tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it 0700; a report is for colleagues too
    try:
        content = gather(run_dir, tmp, explain_maps=explain_maps, collection=collection)
        for problem in content.problems if log is not None else []:
            log(f"warning: run {problem}")
        tables_dir = tmp / "tables"
        tables_dir.mkdir()
        for table in content.all_tables():
            jsonio.atomic_write_text(tables_dir / f"{table.key}.csv", to_csv(table))
            jsonio.atomic_write_text(tables_dir / f"{table.key}.tex", to_latex(table))
        jsonio.atomic_write_text(tmp / "report.md", render_markdown(content))
        jsonio.atomic_write_text(tmp / "report.html", render_html(content))
        write_report_marker(tmp, run_dir.resolve())
        _swap_in(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out / "report.html"
