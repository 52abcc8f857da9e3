"""The command line's one boundary with the operating system: OS errors, signals and ``~``.

Every command runs inside :func:`breastbench.cli.main`, so what is handled here holds for a
new command without a line of its own:

* an :class:`OSError` (permissions, a file where a folder belongs, a full or read-only disk,
  a link loop, ...) or a file name that is not valid UTF-8 becomes one line
  ``error: <what> <path>: <advice>`` and exit 2, never a traceback;
* SIGTERM stops a command exactly as Ctrl-C does (:class:`Terminated` is a
  :class:`KeyboardInterrupt`), so every ``finally`` that removes a temporary runs for both;
* ``~`` in path arguments is expanded (``--out=~/x`` and quoted paths reach us unexpanded).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import threading

# errno -> (what went wrong, what to do); the path goes between them
_ADVICE = {
    errno.EACCES: ("permission denied", "give your user access to it or choose another path"),
    errno.EPERM: ("operation not permitted on", "give your user access to it or choose another"),
    errno.EISDIR: ("is a folder, a file was expected:", "give a file path"),
    errno.ENOTDIR: (
        "not a folder:",
        "a file stands where a folder of this path should be; fix the path",
    ),
    errno.EEXIST: ("already exists:", "move it away or choose another path"),
    errno.ENOSPC: (
        "no space left on the device of",
        "free space and rerun the same command (finished work is kept)",
    ),
    errno.EDQUOT: ("disk quota exceeded at", "free space and rerun the same command"),
    errno.EROFS: ("read-only file system at", "choose a writable output folder (--out / -o)"),
    errno.ELOOP: ("symbolic link loop at", "fix or remove the link"),
    errno.ENAMETOOLONG: ("file name too long:", "use a shorter path"),
    errno.ENOENT: ("no such file or folder:", "check the path"),
    errno.ENOTEMPTY: ("folder not empty:", "choose another path"),
    errno.EMFILE: ("too many open files at", "raise the limit (ulimit -n) and rerun"),
    errno.EIO: ("input/output error at", "check the disk or copy the file again"),
}
# argparse destinations that hold paths (``~`` is expanded in them)
PATH_ARGS = frozenset(
    {
        "out",
        "output",
        "out_dir",
        "run_dir",
        "experiment",
        "checkpoint",
        "images",
        "manifest",
        "root",
        "config",
        "csv",
        "weights",
    }
)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so the same cleanups run."""


def _shown(path) -> str:
    """A path for the one-line message (undecodable bytes shown as escapes)."""
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    return ascii(str(path))[1:-1] if _undecodable(str(path)) else str(path)


def _undecodable(text: str) -> bool:
    """True when ``text`` holds surrogate escapes (a file name that was not UTF-8)."""
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def describe(err: BaseException) -> str:
    """One line (without ``error: ``) naming what failed, the path, and what to do."""
    if isinstance(err, UnicodeError):
        text = getattr(err, "object", "")
        if isinstance(text, str) and _undecodable(text):
            return (
                f"file name is not valid UTF-8: {_shown(text)}: rename it with UTF-8 "
                "characters (or remove it) and rerun"
            )
        return f"text is not valid UTF-8 ({err}): save the file as UTF-8 and rerun"
    assert isinstance(err, OSError)
    what, advice = _ADVICE.get(err.errno, (err.strerror or type(err).__name__, "check the path"))
    names = [n for n in (err.filename, err.filename2) if n is not None]
    where = " -> ".join(_shown(n) for n in names)
    return f"{what} {where}: {advice}" if where else f"{what}: {advice}"


def expand_user_paths(args: argparse.Namespace) -> None:
    """Expand ``~`` in every path argument (in place)."""
    for name in PATH_ARGS & set(vars(args)):
        value = getattr(args, name)
        if isinstance(value, str):
            setattr(args, name, os.path.expanduser(value))
        elif isinstance(value, list):
            setattr(args, name, [os.path.expanduser(v) if isinstance(v, str) else v for v in value])


def _on_sigterm(signum, frame) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the cleanup
    raise Terminated()


@contextlib.contextmanager
def sigterm_as_interrupt():
    """Within the block, SIGTERM raises :class:`Terminated` (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
