"""Generic folder-per-class source: ``root/<class_dir>/**/*.{png,jpg,tif,pgm,dcm,...}``.

For datasets with no dedicated loader. ``mapping`` renames (or merges) class folders, e.g.
``"Normal=benign,Benign=benign"``; a folder absent from a given mapping is skipped and counted.
``patient_regex`` pulls a patient id out of the file name (a named group ``patient`` or the
first group); without it every image is its own patient, which the notes say out loud because
it is only safe when each patient contributes one image.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from breastbench.data.imageio import IMAGE_EXTENSIONS, exif_orientation
from breastbench.data.manifest import build_manifest
from breastbench.data.sources._common import JunkCount, parse_mapping, require_root, walk_files
from breastbench.data.walk import list_dir
from breastbench.errors import UserError


def _patient_getter(patient_regex: str | None):
    if not patient_regex:
        return lambda name: os.path.splitext(name)[0]
    try:
        rx = re.compile(patient_regex)
    except re.error as err:
        raise UserError(f"option patient_regex={patient_regex!r} is not a regex: {err}") from None
    if rx.groups == 0:
        raise UserError(f"option patient_regex={patient_regex!r} needs a capture group")

    def get(name: str) -> str:
        m = rx.search(name)
        if m is None:
            raise UserError(
                f"file {name} does not match patient_regex {patient_regex!r}; fix the regex"
            )
        return m["patient"] if "patient" in rx.groupindex else m[1]

    return get


def _is_photo(path: str) -> bool:
    return path.lower().endswith((".jpg", ".jpeg"))


def load(
    root,
    mapping: str | dict | None = None,
    patient_regex: str | None = None,
    dataset: str = "folder",
) -> pd.DataFrame:
    """Manifest of a folder-per-class tree with optional class mapping and patient regex."""
    root = require_root(root, "folder")
    mapping = parse_mapping(mapping, "mapping")
    junk = JunkCount()
    class_dirs = list_dir(root, junk, dirs=True)
    if not class_dirs:
        raise UserError(f"{root} has no class sub-folders; expected ROOT/<class>/<images>")
    patient_of = _patient_getter(patient_regex)
    rows, skipped = [], 0
    for class_dir in class_dirs:
        files = walk_files(root / class_dir, IMAGE_EXTENSIONS, junk)
        if mapping and class_dir not in mapping:
            skipped += len(files)
            continue
        label = mapping.get(class_dir, class_dir)
        for path in files:
            name = Path(path).name
            rows.append(
                {
                    "path": path,
                    "image_id": os.path.relpath(path, root),
                    "patient_id": patient_of(name),
                    "label": label,
                }
            )
    if not rows:
        raise UserError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in the class folders of {root}")
    # class order: the mapping's order when given (lets users fix an ordinal order), else sorted
    classes = (
        list(dict.fromkeys(mapping.values())) if mapping else sorted({r["label"] for r in rows})
    )
    notes = [junk.note()] if junk.note() else []
    rotated = sum(exif_orientation(r["path"]) != 1 for r in rows if _is_photo(r["path"]))
    if rotated:
        notes.append(f"{rotated} image(s) with EXIF orientation read in display orientation")
    if not patient_regex:
        notes.append(
            "no patient_regex: every image is its own patient (only safe with one "
            "image per patient)"
        )
    return build_manifest(
        rows,
        [c for c in classes if any(r["label"] == c for r in rows)],
        dataset=dataset,
        task="multiclass" if len(classes) > 2 else "binary",
        source="folder",
        excluded={"class folder not in mapping": skipped},
        notes=notes,
        origin=str(root),
    )
