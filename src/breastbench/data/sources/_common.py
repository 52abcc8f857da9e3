"""Helpers shared by the sources: checking the root, listing files, parsing option strings."""

from __future__ import annotations

import os
from pathlib import Path

from breastbench.data.walk import JunkCount, walk_files  # noqa: F401  (re-exported)
from breastbench.errors import UserError


def require_root(root: str | os.PathLike, what: str) -> Path:
    """Return ``root`` as an absolute path, or raise a one-line error if it is not a folder."""
    path = Path(root).expanduser()
    if not path.exists():
        raise UserError(f"{what} root {path} does not exist; pass the folder you downloaded")
    if not path.is_dir():
        raise UserError(f"{what} root {path} is not a folder; pass the dataset's top folder")
    return path.absolute()


def parse_mapping(value: str | dict | None, option: str) -> dict[str, str]:
    """Accept a dict or a ``"key=value,key=value"`` string (as typed on the command line)."""
    if value is None or isinstance(value, dict):
        return dict(value or {})
    mapping = {}
    for item in str(value).split(","):
        key, sep, val = item.partition("=")
        if not sep or not key.strip() or not val.strip():
            raise UserError(f"option {option}: expected 'name=label,name=label', got {value!r}")
        mapping[key.strip()] = val.strip()
    return mapping


def choose(value: str, allowed: tuple[str, ...], option: str) -> str:
    """Return ``value`` if it is one of ``allowed``, else raise naming the option."""
    if value not in allowed:
        raise UserError(f"option {option}={value!r} is not valid; choose one of {allowed}")
    return value
