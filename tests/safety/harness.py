"""A small harness for boundary tests: run the CLI, snapshot trees, find temporaries.

``run_cli(argv, cwd)`` runs ``breastbench.cli.main`` in this process (fast) and returns
``(rc, stdout, stderr)``; an exception escaping ``main`` comes back as rc 1 with its traceback
in stderr, so a row asserting "no Traceback" fails the way a user would see it.
``run_cli(..., as_user="nobody")`` runs the CLI as a subprocess whose file-permission checks
are real: ``setpriv --reuid 65534`` where that user can reach this Python, else root without
the DAC capabilities (``setpriv --bounding-set -dac_override,-dac_read_search``); the row is
skipped when neither works. ``spawn`` starts the CLI as a subprocess (for signal rows).

``snapshot(tree)`` records every entry below ``tree`` (type, size, mode, mtime, link target);
``assert_unchanged(before, after, allowed_root)`` fails when anything outside
``allowed_root`` (a path or a list of paths; None: nowhere) was added, removed or changed.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
# what temporaries look like: runs/.tmp-<run>-<pid>, .tmp-report-<pid>-xxxx, x.tmp<pid>[.npy]
TEMPORARY = re.compile(r"^\.tmp-|^\.old-|\.tmp\d+")
DROP_DAC = ["--inh-caps", "-dac_override,-dac_read_search"]
DROP_DAC += ["--bounding-set", "-dac_override,-dac_read_search"]


def env() -> dict[str, str]:
    """Environment of a CLI subprocess: this checkout's sources, offline, no display."""
    out = dict(os.environ)
    out["PYTHONPATH"] = str(SRC) + os.pathsep + out.get("PYTHONPATH", "")
    out.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", MPLBACKEND="Agg")
    out.setdefault("HOME", "/tmp")
    return out


def command(argv: list[str]) -> list[str]:
    """The subprocess command line of ``breastbench ARGV``."""
    return [sys.executable, "-m", "breastbench.cli", *map(str, argv)]


@functools.cache
def unprivileged_prefix() -> list[str] | None:
    """A command prefix under which file modes are enforced, or None when there is none."""
    if shutil.which("setpriv") is None:
        return None
    probe = [sys.executable, "-c", "import breastbench.cli"]
    if os.geteuid() != 0:
        return []  # already unprivileged
    candidates = (
        ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"],
        ["setpriv", *DROP_DAC, "--"],
    )
    for prefix in candidates:
        try:
            ok = subprocess.run(
                prefix + probe, env=env(), capture_output=True, timeout=60, cwd="/"
            ).returncode
        except (OSError, subprocess.TimeoutExpired):
            continue
        if ok == 0:
            return prefix
    return None


def _hand_over(cwd: Path, paths: list[str]) -> dict[str, str]:
    """Hand ``cwd`` to uid 65534 (modes kept); return a writable HOME for it.

    The user owns the tree as a user owns their files, and may traverse the folders above it
    and above ``paths``.
    """
    for dirpath, dirnames, filenames in os.walk(cwd):
        for name in [*dirnames, *filenames, ""]:
            os.lchown(os.path.join(dirpath, name) if name else dirpath, 65534, 65534)
    for path in [cwd, *map(Path, paths)]:
        for parent in Path(path).parents:
            mode = parent.stat().st_mode
            if not mode & stat.S_IXOTH:
                parent.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
    home = Path(tempfile.mkdtemp(prefix="nobody-home-"))
    os.chown(home, 65534, 65534)
    return {"HOME": str(home), "MPLCONFIGDIR": str(home)}


def run_cli(
    argv: list[str], cwd: str | os.PathLike, as_user: str | None = None, timeout: float = 300
) -> tuple[int, str, str]:
    """Run ``breastbench ARGV`` in ``cwd``; return (exit code, stdout, stderr)."""
    argv = [str(a) for a in argv]
    if as_user is not None:
        prefix = unprivileged_prefix()
        if prefix is None:
            pytest.skip("no setpriv (or no way to drop privileges): permission rows skipped")
        run_env = env()
        if "--reuid" in prefix:
            run_env.update(_hand_over(Path(cwd), [a for a in argv if os.path.isabs(a)]))
        proc = subprocess.run(
            prefix + command(argv),
            cwd=cwd,
            env=run_env,
            capture_output=True,
            timeout=timeout,
            text=True,
            errors="backslashreplace",
        )
        return proc.returncode, proc.stdout, proc.stderr
    from breastbench.cli import main

    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(argv)
            except SystemExit as exit_:
                rc = exit_.code if isinstance(exit_.code, int) else 2
            except BaseException:  # noqa: BLE001 - reported as a user would see it
                err.write(traceback.format_exc())
                rc = 1
    finally:
        os.chdir(here)
    return rc, out.getvalue(), err.getvalue()


def spawn(argv: list[str], cwd: str | os.PathLike) -> subprocess.Popen:
    """Start ``breastbench ARGV`` as a subprocess (stdout/stderr piped, text)."""
    return subprocess.Popen(
        command(argv),
        cwd=cwd,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="backslashreplace",
    )


def snapshot(tree: str | os.PathLike) -> dict[str, tuple]:
    """Every entry below ``tree`` (links not followed): path -> (kind, size, mode, mtime, link)."""
    out: dict[str, tuple] = {}
    root = Path(tree)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            kind = "link" if os.path.islink(path) else ("dir" if name in dirnames else "file")
            link = os.readlink(path) if kind == "link" else None
            size = st.st_size if kind == "file" else 0
            mtime = st.st_mtime_ns if kind == "file" else 0
            out[path] = (kind, size, st.st_mode, mtime, link)
    return out


def _allowed(path: str, roots: list[Path]) -> bool:
    p = Path(path)
    return any(p == r or r in p.parents for r in roots)


def _new_parent(path: str, before: dict, after: dict, roots: list[Path]) -> bool:
    """A folder created on the way to an allowed root (``mkdir -p``) is part of the output."""
    created = path not in before and (after.get(path) or ("",))[0] == "dir"
    return created and any(Path(path) in r.parents for r in roots)


def changes(before: dict, after: dict) -> list[str]:
    """Paths added, removed or changed between two snapshots."""
    return sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))


def assert_unchanged(before: dict, after: dict, allowed_root=None) -> None:
    """Fail when an entry outside ``allowed_root`` (path, list of paths or None) changed."""
    if allowed_root is None:
        roots = []
    elif isinstance(allowed_root, (list, tuple)):
        roots = [Path(r) for r in allowed_root]
    else:
        roots = [Path(allowed_root)]
    outside = [
        p
        for p in changes(before, after)
        if not _allowed(p, roots) and not _new_parent(p, before, after, roots)
    ]
    assert outside == [], f"changed outside {roots}: {outside[:10]}"


def temporaries(tree: str | os.PathLike) -> list[str]:
    """Temporary files or folders left below ``tree``."""
    found = []
    for dirpath, dirnames, filenames in os.walk(tree):
        found += [os.path.join(dirpath, n) for n in dirnames + filenames if TEMPORARY.search(n)]
    return sorted(found)


def one_error_line(err: str, *needles: str) -> str:
    """Assert ``err`` is exactly one ``error: ...`` line holding every needle; return it."""
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert "Traceback" not in err, err
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}:\n{err}"
    assert lines[0].startswith("error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]
