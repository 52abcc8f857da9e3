"""BACH / ICIAR 2018 microscopy photos: Normal, Benign, InSitu, Invasive (100 .tif each).

Labels come from the official ``microscopy_ground_truth.csv`` (no header, ``n001.tif,Normal``,
CRLF line ends) when present, else from the class folders. BACH publishes no patient ids, so
each image is its own group: cross-validation on BACH alone may leak patients, which is why it
serves here as an external test set. The binary mapping is data (``BINARY_MAPPING``), the same
benign/malignant classes as BreakHis so a BreakHis model can be validated on BACH.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from breastbench.data.manifest import build_manifest
from breastbench.data.sources._common import choose, require_root
from breastbench.data.walk import JunkCount, list_dir
from breastbench.errors import UserError

CLASSES = ["Normal", "Benign", "InSitu", "Invasive"]
BINARY_MAPPING = {
    "Normal": "benign",
    "Benign": "benign",
    "InSitu": "malignant",
    "Invasive": "malignant",
}
TASKS = {"multiclass": CLASSES, "binary": ["benign", "malignant"]}
GROUND_TRUTH = "microscopy_ground_truth.csv"
NO_PATIENT_NOTE = "BACH has no patient ids: each image is treated as its own group"


def find_photos(root: Path) -> Path:
    """Locate the ``Photos`` folder from the challenge folder, its parent or itself."""
    for cand in (root, root / "Photos", root / "ICIAR2018_BACH_Challenge" / "Photos"):
        if any((cand / c).is_dir() for c in CLASSES) or (cand / GROUND_TRUTH).is_file():
            return cand
    raise UserError(
        f"no BACH layout under {root}: expected Photos/{{{','.join(CLASSES)}}}/*.tif "
        f"and Photos/{GROUND_TRUTH}"
    )


def read_ground_truth(path: Path) -> dict[str, str]:
    """Read ``file -> class`` from the official CSV, checking every class name."""
    labels = {}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        for lineno, row in enumerate(csv.reader(fh), start=1):
            if not row or not "".join(row).strip():
                continue
            if len(row) != 2 or row[1].strip() not in CLASSES:
                raise UserError(
                    f"{path} line {lineno}: expected '<file>.tif,<class>' with class in "
                    f"{CLASSES}, got {','.join(row)!r}"
                )
            labels[row[0].strip()] = row[1].strip()
    return labels


def load(root, task: str = "multiclass") -> pd.DataFrame:
    """Manifest of the BACH microscopy photos (``task`` multiclass or binary)."""
    choose(task, tuple(TASKS), "task")
    photos = find_photos(require_root(root, "BACH"))
    junk = JunkCount()
    on_disk = {
        name: photos / cls / name
        for cls in CLASSES
        if (photos / cls).is_dir()
        for name in list_dir(photos / cls, junk, dirs=False)
        if name.lower().endswith((".tif", ".tiff"))
    }
    gt_path = photos / GROUND_TRUTH
    notes = [NO_PATIENT_NOTE] + ([junk.note()] if junk.note() else [])
    if gt_path.is_file():
        truth = read_ground_truth(gt_path)
        extra = sorted(set(on_disk) - set(truth))
        if extra:
            notes.append(f"{len(extra)} image(s) not in {GROUND_TRUTH} ignored, e.g. {extra[0]}")
    else:
        truth = {name: path.parent.name for name, path in on_disk.items()}
        notes.append(f"no {GROUND_TRUTH}: labels taken from the class folders")
    rows = []
    for name, cls in truth.items():
        path = on_disk.get(name, photos / cls / name)
        if path.parent.name != cls:
            raise UserError(f"{path}: in folder {path.parent.name} but {GROUND_TRUTH} says {cls}")
        image_id = name.rsplit(".", 1)[0]
        rows.append(
            {
                "path": str(path),
                "image_id": image_id,
                "patient_id": image_id,
                "subtype": cls,
                "label": cls if task == "multiclass" else BINARY_MAPPING[cls],
            }
        )
    if not rows:
        raise UserError(f"no .tif images under {photos}; check the BACH download")
    return build_manifest(
        rows, TASKS[task], dataset="bach", task=task, source="bach", notes=notes, origin=str(photos)
    )
