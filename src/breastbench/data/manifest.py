"""The manifest: one validated table per dataset, one row per image.

Every source only builds a manifest; training, folds and reports read nothing else. The
columns are fixed (see ``REQUIRED_COLUMNS`` / ``OPTIONAL_COLUMNS``) and the dataset-level facts
(ordered class list, task, exclusions, notes) live in ``df.attrs``. On disk a manifest is a CSV
or Parquet file plus a ``<file>.meta.json`` sidecar holding those attrs, because neither format
round-trips pandas attrs. A ``fold`` column is stored with a content hash so that a manifest read
back is checked, never silently re-split.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from breastbench import jsonio
from breastbench.errors import UserError

REQUIRED_COLUMNS = ("path", "label", "target", "patient_id", "dataset")
OPTIONAL_COLUMNS = (
    "image_id",
    "slide_id",
    "subtype",
    "magnification",
    "view",
    "laterality",
    "study_id",
    "folder",
    "fold",
)
# identifiers must stay strings: RSNA patient ids are numbers, VinDr ids are hex.
STRING_COLUMNS = ("path", "label", "patient_id", "dataset", "image_id", "slide_id", "subtype")
STRING_COLUMNS += ("view", "laterality", "study_id", "folder")
INT_COLUMNS = ("target", "magnification", "fold")
#: ``pd.read_csv(dtype=ID_DTYPES)`` keeps identifiers as written (``0012`` is not ``12``)
ID_DTYPES = dict.fromkeys(STRING_COLUMNS, str)
ATTR_KEYS = ("classes", "task", "source", "dataset", "excluded", "notes", "group_report")
ATTR_KEYS += ("group_col", "synthetic", "folds")


def build_manifest(
    rows: Iterable[dict],
    classes: list[str],
    *,
    dataset: str,
    task: str,
    source: str,
    excluded: dict[str, int] | None = None,
    notes: list[str] | None = None,
    origin: str = "",
) -> pd.DataFrame:
    """Turn source rows (dicts with ``path``, ``label``, ``patient_id``...) into a manifest.

    ``rows`` may also be a DataFrame of those columns (large sources such as PCam). Adds
    ``target`` from the ordered ``classes`` and ``dataset``, orders the columns, sets the attrs
    and validates (without touching the files: sources check those themselves).
    """
    df = rows.copy() if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    if df.empty:
        raise UserError(f"no images found in {origin or dataset}; check the path and the layout")
    index = {name: i for i, name in enumerate(classes)}
    df["dataset"] = dataset
    df["target"] = df["label"].map(index)
    df = _order_columns(df)
    df.attrs.update(
        classes=list(classes),
        task=task,
        source=source,
        dataset=dataset,
        excluded={k: int(v) for k, v in (excluded or {}).items() if v},
        notes=list(notes or []),
    )
    validate_manifest(df, check_files=False, origin=origin or dataset)
    return df


def _order_columns(df: pd.DataFrame) -> pd.DataFrame:
    known = [c for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS if c in df.columns]
    extra = [c for c in df.columns if c not in known]
    return df[known + extra].reset_index(drop=True)


def validate_manifest(df: pd.DataFrame, check_files: bool = True, origin: str = "manifest") -> None:
    """Raise :class:`UserError` for missing columns, duplicates, unknown labels or files."""
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise UserError(
            f"{origin}: missing required column(s) {', '.join(missing)}; "
            f"a manifest needs {', '.join(REQUIRED_COLUMNS)}"
        )
    if df.empty:
        raise UserError(f"{origin}: the manifest has no rows")
    dup = df["path"][df["path"].duplicated()]
    if len(dup):
        raise UserError(
            f"{origin}: {len(dup)} duplicate path(s), first {dup.iloc[0]}; "
            "each image must appear once (remove the repeated rows)"
        )
    ids = df["patient_id"]
    blank = ids.isna() | (ids.astype(str).str.strip() == "")
    if blank.any():
        raise UserError(
            f"{origin}: {int(blank.sum())} image(s) have a blank patient_id, first "
            f"{df['path'][blank].iloc[0]}; fill in every patient id (blank ones would all "
            "become one patient), or give each image its own patient (density sources: "
            "patient_col set to empty)"
        )
    classes = df.attrs.get("classes") or sorted(df["label"].astype(str).unique())
    df.attrs["classes"] = list(classes)
    unknown = sorted(set(df["label"].astype(str)) - set(classes))
    if unknown:
        raise UserError(
            f"{origin}: unknown label(s) {', '.join(unknown)}; known classes are "
            f"{', '.join(classes)} (fix the label column or the classes in the .meta.json)"
        )
    expected = df["label"].astype(str).map({c: i for i, c in enumerate(classes)})
    if df["target"].isna().any() or (expected != df["target"].astype("int64")).any():
        raise UserError(
            f"{origin}: column 'target' does not match 'label' under classes {classes}; "
            "regenerate the manifest instead of editing targets by hand"
        )
    if check_files:
        from breastbench.data.h5members import image_file

        exists: dict[str, bool] = {}  # HDF5 members share one file: stat it once
        files = [image_file(p) for p in df["path"]]
        absent = [f for f in files if exists.setdefault(f, os.path.isfile(f)) is False]
        if absent:
            raise UserError(
                f"{origin}: {len(absent)} image file(s) not found, first {absent[0]} "
                f"({why_absent(absent[0])}); fix the paths or pass check_files=False "
                "(--no-check-files)"
            )


def why_absent(path: str) -> str:
    """Why ``path`` is no readable file: missing, a folder, a broken link or a link loop."""
    if os.path.isdir(path):
        return "a folder named like an image"
    if os.path.islink(path):
        try:
            os.stat(path)
        except OSError as err:
            return "a symbolic link loop" if err.errno == errno.ELOOP else "a broken symbolic link"
    return "no such file"


def folds_hash(df: pd.DataFrame) -> str:
    """Content hash of the fold assignment: which image (by id or path) sits in which fold."""
    key = df["image_id"] if "image_id" in df.columns else df["path"]
    # vectorised: the same lines as f"{key}\t{patient}\t{int(fold)}", sorted by code point
    lines = key.astype(str) + "\t" + df["patient_id"].astype(str) + "\t"
    lines = lines + df["fold"].astype("int64").astype(str)
    return hashlib.sha256("\n".join(np.sort(lines.to_numpy(dtype=str))).encode()).hexdigest()


def sidecar(path: Path) -> Path:
    """``<manifest>.meta.json``: the attrs (classes, task, folds hash) beside a manifest."""
    return path.with_name(path.name + ".meta.json")


def write_manifest(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``df`` as CSV or Parquet (by suffix) plus the ``.meta.json`` attrs sidecar."""
    path = Path(path)
    if path.suffix not in (".csv", ".parquet"):
        raise UserError(f"manifest file {path} must end in .csv or .parquet")
    validate_manifest(df, check_files=False, origin=str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {k: df.attrs[k] for k in ATTR_KEYS if k in df.attrs}
    if "fold" in df.columns:
        meta["folds"] = {**dict(df.attrs.get("folds") or {}), "hash": folds_hash(df)}
    table = _order_columns(df)
    if path.suffix == ".csv":
        jsonio.atomic_write_csv(table, path)
    else:
        jsonio.atomic_write(path, lambda tmp: table.to_parquet(tmp, index=False))
    text = jsonio.dumps(dict(sorted(meta.items())))
    jsonio.atomic_write_text(sidecar(path), text)
    return path


def read_manifest(path: str | os.PathLike, check_files: bool = True) -> pd.DataFrame:
    """Read a manifest written by :func:`write_manifest` (or by hand) and validate it.

    A ``fold`` column is checked against the hash in the sidecar; folds are never recomputed.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"manifest {path} not found; create it with `breastbench data folds`")
    try:
        if path.suffix == ".parquet":
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path, dtype=ID_DTYPES, keep_default_na=False, na_values=[""])
    except (ValueError, OSError, pd.errors.ParserError) as err:
        raise UserError(f"cannot read manifest {path}: {err}") from None
    meta = {}
    if sidecar(path).is_file():
        try:
            meta = json.loads(sidecar(path).read_text())
        except json.JSONDecodeError as err:
            raise UserError(f"{sidecar(path)} is not valid JSON ({err}); rewrite it") from None
    df.attrs.update(meta)
    for col in INT_COLUMNS:
        if col in df.columns and df[col].notna().all():
            df[col] = df[col].astype("int64")
    validate_manifest(df, check_files=check_files, origin=str(path))
    if "fold" in df.columns and "hash" in (meta.get("folds") or {}):
        if folds_hash(df) != meta["folds"]["hash"]:
            raise UserError(
                f"{path}: the fold column does not match the hash in {sidecar(path).name} "
                "(edited by hand?); regenerate it with `breastbench data folds`"
            )
    return df
