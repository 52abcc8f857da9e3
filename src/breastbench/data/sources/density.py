"""Mammography density (BI-RADS A-D) from any CSV: the generic loader behind every preset.

Public density tables disagree on everything: ``DENSITY C`` (VinDr), ``C`` or blank (RSNA),
``3`` or ``0`` (CBIS-DDSM), ACR ``3`` or blank (INbreast). :func:`normalize_density` maps all
of them to A-D. A blank (or CBIS ``0``, "not assessed") is excluded with a counted reason;
a value nobody defines (``E``, ``dense``) is an error naming file, column and value unless the
user asked to skip invalid rows. Nothing is dropped silently.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pandas as pd

from breastbench.data.manifest import build_manifest
from breastbench.data.sources._common import require_root
from breastbench.errors import UserError

CLASSES = ["A", "B", "C", "D"]
_NUMERIC = {"1": "A", "2": "B", "3": "C", "4": "D"}
MISSING = "missing density"
NOT_ASSESSED = "density 0 (not assessed)"
INVALID = "invalid density value"
FILE_MISSING = "image file not found"


def normalize_density(value) -> tuple[str | None, str | None]:
    """Return ``(label, None)`` for a valid density, ``(None, reason)`` for a known gap.

    Returns ``(None, None)`` for a value that is not a density at all (the caller decides
    whether that is an error or a counted exclusion).
    """
    text = "" if value is None or (isinstance(value, float) and value != value) else str(value)
    text = text.strip().upper().removeprefix("DENSITY").strip()
    if text.endswith(".0"):  # numbers that went through a float column: "3.0"
        text = text[:-2]
    if text in ("", "NAN", "NONE"):
        return None, MISSING
    if text in CLASSES:
        return text, None
    if text in _NUMERIC:
        return _NUMERIC[text], None
    if text == "0":
        return None, NOT_ASSESSED
    return None, None


def read_table(csv_path: str | os.PathLike, sep: str = ",") -> pd.DataFrame:
    """Read a CSV as strings (ids keep their zeros, blanks stay blank), or raise one line."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise UserError(f"CSV {csv_path} not found; pass --csv FILE or put it in ROOT")
    try:
        table = pd.read_csv(csv_path, dtype=str, keep_default_na=False, sep=sep)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise UserError(f"cannot parse CSV {csv_path}: {err}") from None
    table.columns = [c.strip() for c in table.columns]
    return table


def require_columns(table: pd.DataFrame, columns, csv_path) -> None:
    """Raise naming the file and the missing column(s) and listing the ones present."""
    missing = [c for c in columns if c and c not in table.columns]
    if missing:
        raise UserError(
            f"{csv_path}: missing column(s) {', '.join(map(repr, missing))}; "
            f"found {', '.join(map(repr, table.columns))}"
        )


def build_density_manifest(
    records: list[dict],
    *,
    csv_path,
    density_col: str,
    dataset: str,
    source: str,
    skip_invalid: bool = False,
    skip_missing: bool = False,
    check_files: bool = True,
    dedupe: bool = False,
    excluded: Counter | None = None,
    notes: list[str] | None = None,
    classes: list[str] | None = None,
    normalize=normalize_density,
    task: str = "density",
    expected: str = "A-D, 'DENSITY A'-'DENSITY D' or 1-4",
) -> pd.DataFrame:
    """Turn per-row dicts (``path``, ``patient_id``, ``density_raw``...) into a manifest.

    Applies, in order: density normalisation with counted exclusions, de-duplication of rows
    that repeat an image (CBIS/MIAS list one row per abnormality), and the file check.
    """
    excluded = Counter(excluded or {})
    notes = list(notes or [])
    rows, seen, repeats = [], set(), 0
    for rec in records:
        raw = rec.pop("density_raw")
        label, reason = normalize(raw)
        if label is None and reason is None:
            if not skip_invalid:
                raise UserError(
                    f"{csv_path}: unknown density value {raw!r} in column {density_col!r} "
                    f"(image {rec['path']}); expected {expected}; fix "
                    "the row or pass --skip-invalid to exclude such rows"
                )
            reason = INVALID
        if reason is not None:
            excluded[reason] += 1
            continue
        if rec["path"] in seen:
            if not dedupe:
                raise UserError(
                    f"{csv_path}: duplicate path {rec['path']}; each image must appear once"
                )
            repeats += 1
            continue
        seen.add(rec["path"])
        if check_files and not os.path.exists(rec["path"]):
            if not skip_missing:
                raise UserError(
                    f"{csv_path}: image file {rec['path']} not found; fix the image folder, "
                    "pass --skip-missing to exclude such rows or --no-check-files"
                )
            excluded[FILE_MISSING] += 1
            continue
        rows.append({**rec, "label": label})
    if repeats:
        notes.append(f"{repeats} row(s) repeat an image (one per abnormality): kept the first")
    if not rows:
        reasons = ", ".join(f"{k}: {v}" for k, v in excluded.items()) or "empty table"
        raise UserError(f"{csv_path}: no usable rows ({reasons})")
    return build_manifest(
        rows,
        classes or CLASSES,
        dataset=dataset,
        task=task,
        source=source,
        excluded=dict(excluded),
        notes=notes,
        origin=str(csv_path),
    )


def load(
    root,
    csv: str | None = None,
    density_col: str = "density",
    path_col: str | None = "path",
    path_template: str | None = None,
    patient_col: str | None = "patient_id",
    view_col: str | None = None,
    laterality_col: str | None = None,
    study_col: str | None = None,
    sep: str = ",",
    dataset: str = "density-csv",
    skip_invalid: bool = False,
    skip_missing: bool = False,
    check_files: bool = True,
) -> pd.DataFrame:
    """Generic density CSV (default ``root/labels.csv``) with configurable column names.

    The image path comes from ``path_col`` or a ``path_template`` such as
    ``images/{study_id}/{image_id}.dcm``; relative paths are under ``root``.
    """
    root = require_root(root, "density")
    csv_path = Path(csv) if csv else root / "labels.csv"
    table = read_table(csv_path, sep=sep)
    cols = [density_col, patient_col, view_col, laterality_col, study_col]
    require_columns(table, cols + ([] if path_template else [path_col]), csv_path)
    records = []
    for row in table.to_dict("records"):
        try:
            rel = path_template.format(**row) if path_template else row[path_col]
        except KeyError as err:
            raise UserError(f"path_template uses column {err} that {csv_path} lacks") from None
        path = rel if os.path.isabs(rel) else str(root / rel)
        rec = {"path": path, "image_id": Path(rel).stem, "density_raw": row[density_col]}
        rec["patient_id"] = row[patient_col] if patient_col else Path(rel).stem
        if view_col:
            rec["view"] = row[view_col].strip().upper()
        if laterality_col:
            rec["laterality"] = row[laterality_col].strip().upper()[:1]
        if study_col:
            rec["study_id"] = row[study_col]
        records.append(rec)
    notes = [] if patient_col else ["no patient column: every image is its own patient"]
    return build_density_manifest(
        records,
        csv_path=csv_path,
        density_col=density_col,
        dataset=dataset,
        source="density-csv",
        skip_invalid=skip_invalid,
        skip_missing=skip_missing,
        check_files=check_files,
        notes=notes,
    )
