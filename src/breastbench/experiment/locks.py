"""An inter-process file lock, so concurrent runs on one machine build each cache only once.

``filelock`` picks the platform's lock (``fcntl.flock`` on POSIX, ``msvcrt`` on Windows, a
lock file where neither exists), so importing this module works everywhere.
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path


@contextlib.contextmanager
def file_lock(path: str | Path):
    """Hold an exclusive lock on ``path`` (created if needed) for the block."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "only soft file lock is available" is expected there
        from filelock import FileLock

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path)):
        yield
