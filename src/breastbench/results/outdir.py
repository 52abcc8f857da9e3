"""Which output folders a command may write, and the marker files that say who owns a folder.

A command writes only inside its own output folder and never deletes what it did not write:

* a run folder holds ``breastbench-run.json`` (:data:`breastbench.results.folder.MARKER`);
  ``run --out`` accepts a new folder, an empty one or a run folder, and refuses a folder
  holding other files, a report folder, or a path inside another run folder;
* a report folder holds ``breastbench-report.json`` listing every file the report wrote;
  ``report -o`` accepts a new or empty folder or a report folder holding only its own files
  (an older report without the marker: only ``report.html``, ``report.md``, ``figures/*.png``
  and ``tables/*.csv|tex``), and refuses the run folder itself, its own subfolders and any
  folder holding a file the report did not write.

Destinations are resolved first (``~`` expanded, symbolic links followed), so a report folder
that is a link is written where it points and the link itself is never renamed.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from breastbench import jsonio
from breastbench.errors import UserError

RUN_MARKER = "breastbench-run.json"
REPORT_MARKER = "breastbench-report.json"
# a run folder's own subfolders: a report written there would mix with (or replace) results
RUN_SUBFOLDERS = ("runs", "summary", "manifests", "cache")
# what an older report (written before the marker existed) holds, and the suffixes inside
_LEGACY_REPORT = {"report.html": None, "report.md": None, "figures": (".png",)}
_LEGACY_REPORT["tables"] = (".csv", ".tex")


def user_path(path: str | os.PathLike) -> Path:
    """A path as the user meant it: ``~`` and ``~user`` expanded."""
    return Path(os.path.expanduser(os.fspath(path)))


def real(path: str | os.PathLike) -> Path:
    """``~`` expanded and symbolic links followed (the folder a write really lands in)."""
    return Path(os.path.realpath(user_path(path)))


def check_parents(path: Path, flag: str, given: str) -> None:
    """UserError when a file stands where a folder of ``path`` should be."""
    for parent in path.parents:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                raise UserError(f"{flag} {given}: {parent} is a file, not a folder; fix the path")
            return


def run_folder_of(path: Path) -> Path | None:
    """The nearest of ``path`` and its parents that holds a run-folder marker, else None."""
    for folder in (path, *path.parents):
        if (folder / RUN_MARKER).is_file():
            return folder
    return None


def _entries(folder: Path) -> list[str]:
    """Relative paths of every file (and link) below ``folder``, sorted."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        base = Path(dirpath).relative_to(folder)
        links = [d for d in dirnames if (Path(dirpath) / d).is_symlink()]
        for name in filenames + links:
            out.append((base / name).as_posix())
    return sorted(out)


def _report_files(folder: Path) -> set[str] | None:
    """Files a report wrote into ``folder`` (from its marker), or None without a marker."""
    marker = folder / REPORT_MARKER
    if not marker.is_file():
        return None
    try:
        data = jsonio.read_json(marker)
        return {str(f) for f in data.get("files", [])}
    except (OSError, ValueError, AttributeError, TypeError):
        return set()


def _legacy_report(folder: Path, files: list[str]) -> bool:
    """True for a report folder written before the marker existed (only report files)."""
    if not (folder / "report.html").is_file():
        return False
    for rel in files:
        top, _, rest = rel.partition("/")
        if top not in _LEGACY_REPORT:
            return False
        suffixes = _LEGACY_REPORT[top]
        if (suffixes is None) != (rest == "") or (suffixes and not rel.endswith(suffixes)):
            return False
    return True


def report_destination(out: str | os.PathLike, run_dir: str | os.PathLike) -> Path:
    """The real folder a report of ``run_dir`` may be written to; UserError when not ours."""
    given = os.fspath(out)
    out = real(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"-o {given}: is a file; pass a folder for the report")
    check_parents(out, "-o", given)
    run = run_folder_of(out)
    if run == out:
        raise UserError(
            f"-o {given}: is a run folder (it holds {RUN_MARKER}); the report would replace "
            f"its runs. Leave -o out (default {Path(run_dir) / 'report'}) or pass a new folder"
        )
    if run is not None and (out.parent != run or out.name in RUN_SUBFOLDERS):
        raise UserError(
            f"-o {given}: lies inside the files of run folder {run}; pass a new folder, or "
            f"leave -o out (default {Path(run_dir) / 'report'})"
        )
    if not out.is_dir():
        return out
    files = _entries(out)
    owned = _report_files(out)
    if owned is None:
        foreign = [] if _legacy_report(out, files) else files
    else:
        foreign = [f for f in files if f != REPORT_MARKER and f not in owned]
    if foreign:
        raise UserError(
            f"-o {given}: holds {out / foreign[0]}, which breastbench did not write "
            f"({len(foreign)} such file(s)); pass a new or empty folder (nothing was changed)"
        )
    return out


def run_destination(out: str | os.PathLike) -> None:
    """Refuse a ``--out`` folder that holds files no run wrote, or lies inside a run folder."""
    given = os.fspath(out)
    out = real(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {given}: is a file; give a folder path")
    check_parents(out, "--out", given)
    outer = run_folder_of(out.parent)
    if outer is not None:
        raise UserError(
            f"--out {given}: lies inside run folder {outer}; run into a folder of its own"
        )
    if not out.is_dir() or (out / RUN_MARKER).is_file():
        return
    if (out / REPORT_MARKER).is_file():
        raise UserError(f"--out {given}: is a report folder; run into a new or empty folder")
    names = sorted(p.name for p in out.iterdir())
    if names and names != ["runs"]:  # runs/ alone: an older layout, named by check_layout
        raise UserError(
            f"--out {given}: holds {out / names[0]}, which breastbench did not write "
            f"({len(names)} entries); run into a new or empty folder (nothing was changed)"
        )


def write_report_marker(folder: Path, run_dir: Path) -> None:
    """Record that ``folder`` is a report of ``run_dir`` and every file it holds."""
    files = [f for f in _entries(folder) if f != REPORT_MARKER]
    jsonio.write_json(
        folder / REPORT_MARKER,
        {"kind": "breastbench report", "run_dir": str(run_dir), "files": files},
    )


def sweep_siblings(out: Path) -> int:
    """Delete ``.tmp-<name>-<pid>-*`` / ``.old-<name>-<pid>`` leftovers of dead processes."""
    name = re.escape(out.name)
    pattern = re.compile(rf"^\.(?:tmp-{name}-(?P<pid>\d+)-[a-z0-9_]{{8}}|old-{name}-(?P<old>\d+))$")
    n = 0
    if not out.parent.is_dir():
        return 0
    for p in out.parent.iterdir():
        m = pattern.match(p.name)
        if m and not alive(int(m["pid"] or m["old"])) and p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
            n += 1
    return n


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (this process counts; unknown permission: assume so)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True
