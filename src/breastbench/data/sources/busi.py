"""BUSI, Breast Ultrasound Images (Al-Dhabyani et al., Data in Brief 2020): a folder preset.

Layout as published (``Dataset_BUSI_with_GT.zip``)::

    Dataset_BUSI_with_GT/{benign,malignant,normal}/<class> (<n>).png
                                                  /<class> (<n>)_mask.png, _mask_1.png ...

780 images (133 normal, 437 benign, 210 malignant) at about 500x500, each with one or more
lesion masks. The masks are skipped (and counted); BUSI publishes no patient ids, so each image
is its own group (a note says so). ``task``: ``multiclass`` (normal, benign, malignant) or
``binary`` (benign vs malignant, normal images excluded and counted).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from breastbench.data.manifest import build_manifest
from breastbench.data.sources._common import choose, require_root
from breastbench.data.walk import JunkCount, walk_files
from breastbench.errors import UserError

CLASSES = ["normal", "benign", "malignant"]
TASKS = {"multiclass": CLASSES, "binary": ["benign", "malignant"]}
MASK_RE = re.compile(r"_mask(_\d+)?\.png$", re.IGNORECASE)
MASKS = "lesion mask (not an image)"
NORMAL = "normal image (binary task)"


def load(root, task: str = "multiclass") -> pd.DataFrame:
    """Manifest of BUSI's ultrasound images, masks skipped."""
    choose(task, tuple(TASKS), "task")
    top = require_root(root, "BUSI")
    base = top / "Dataset_BUSI_with_GT" if (top / "Dataset_BUSI_with_GT").is_dir() else top
    if not any((base / c).is_dir() for c in CLASSES):
        raise UserError(f"no BUSI layout under {top}: expected Dataset_BUSI_with_GT/{CLASSES}/")
    junk = JunkCount()
    excluded = {MASKS: 0, NORMAL: 0}
    rows = []
    for cls in CLASSES:
        for path in walk_files(base / cls, (".png",), junk) if (base / cls).is_dir() else []:
            if MASK_RE.search(path):
                excluded[MASKS] += 1
                continue
            if task == "binary" and cls == "normal":
                excluded[NORMAL] += 1
                continue
            stem = Path(path).stem
            rows.append({"path": path, "image_id": f"{cls}/{stem}", "label": cls})
            rows[-1]["patient_id"] = rows[-1]["image_id"]
    notes = ["BUSI has no patient ids: each image is treated as its own group"]
    if junk.note():
        notes.append(junk.note())
    return build_manifest(
        rows,
        TASKS[task],
        dataset="busi",
        task=task,
        source="busi",
        excluded=excluded,
        notes=notes,
        origin=str(base),
    )
