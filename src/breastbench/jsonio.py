"""Strict JSON and atomic small-file writes, for every file the package writes.

Python's ``json`` writes ``NaN`` and ``Infinity`` by default, which strict readers (browsers'
``JSON.parse``, jq, most other languages) reject. breastbench writes an undefined number
(e.g. AUC on a one-class fold) as ``null`` instead, and reads ``null`` back as NaN where a
number is expected. Writes go to a temporary file in the same folder and are renamed into
place, so a reader never sees half a file.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def plain(obj: Any) -> Any:
    """``obj`` as strict-JSON data: NaN/inf -> None, numpy scalars/arrays -> Python."""
    if isinstance(obj, dict):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return plain(obj.tolist())
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return str(obj)


def dumps(obj: Any, indent: int | None = 2) -> str:
    """Strict JSON text (never ``NaN``/``Infinity``)."""
    return json.dumps(plain(obj), indent=indent, allow_nan=False)


def _reject(constant: str):
    raise ValueError(f"non-standard JSON constant {constant}")


def loads(text: str) -> Any:
    """Parse strict JSON; ``NaN``/``Infinity`` literals are an error."""
    return json.loads(text, parse_constant=_reject)


def temporary(path: str | os.PathLike) -> Path:
    """The same-folder temporary of ``path``: hidden, with this process's id, same suffix.

    The suffix is kept so writers that infer the format from it (matplotlib, OpenCV, NumPy)
    write the right format; the process id lets a sweep tell a dead writer's leftover.
    """
    path = Path(path)
    return path.with_name(f".{path.name}.tmp{os.getpid()}{path.suffix}")


def atomic_write(path: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
    """The one atomic write: ``write(temporary)``, then rename onto ``path``.

    A reader never sees half a file, and the temporary is removed on any exit (an error,
    Ctrl-C, SIGTERM handled as an exception). Every file breastbench writes goes through here.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as err:
        if err.filename in (None, str(tmp), tmp) and err.errno is not None:
            # name the file the user knows (a full disk, a quota), not our hidden temporary
            raise OSError(err.errno, err.strerror or str(err), str(path)) from err
        raise
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> Path:
    """Atomically write ``obj`` as strict JSON."""
    return atomic_write_text(path, dumps(obj, indent) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file (strict)."""
    return loads(Path(path).read_text(encoding="utf-8"))


def atomic_write_csv(df, path: str | os.PathLike, index: bool = False) -> Path:
    """Atomically write a DataFrame as CSV (no index unless asked)."""
    return atomic_write(path, lambda tmp: df.to_csv(tmp, index=index))


def save_figure(fig, path: str | os.PathLike, **kwargs) -> Path:
    """Atomically save a matplotlib figure (format from ``path``'s suffix)."""
    fmt = Path(path).suffix.lstrip(".") or None
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, **kwargs))
