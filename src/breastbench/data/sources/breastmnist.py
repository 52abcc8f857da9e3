"""BreastMNIST (MedMNIST v2, Yang et al., Sci. Data 2023): BUSI ultrasound as a local ``.npz``.

Layout as published (``breastmnist.npz``, or ``breastmnist_{64,128,224}.npz`` for the larger
sizes): arrays ``{train,val,test}_images`` (N, H, W) uint8 and ``{train,val,test}_labels``
(N, 1), 546 / 78 / 156 images. Label 0 is malignant, 1 is normal or benign (MedMNIST's INFO
table), named ``malignant`` / ``benign`` here like BreakHis. The file is read where it lies
(never downloaded, never unpacked): rows are ``<file.npz>#<index>`` over the train, val and test
images in that order (:mod:`breastbench.data.h5members`). MedMNIST has no patient ids, so each
image is its own group; ``split: official`` keeps the published sets as fixed folds (0 = test,
1 = train, 2 = val).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from breastbench.data.h5members import NPZ_SPLITS, SEPARATOR
from breastbench.data.manifest import build_manifest
from breastbench.data.sources._common import require_root
from breastbench.errors import UserError

CLASSES = ["benign", "malignant"]
LABELS = {0: "malignant", 1: "benign"}
OFFICIAL_FOLDS = {"test": 0, "train": 1, "val": 2}


def _find(root: Path, size: int | None) -> Path:
    name = "breastmnist.npz" if size in (None, 28) else f"breastmnist_{size}.npz"
    if root.is_file() and root.suffix == ".npz":
        return root
    if (root / name).is_file():
        return root / name
    raise UserError(f"no {name} in {root}; pass the folder holding the MedMNIST file")


def load(root, size: int | None = None, split: str | None = None) -> pd.DataFrame:
    """Manifest of BreastMNIST's images (``size`` 28 default, or 64/128/224)."""
    if split not in (None, "", "official"):
        raise UserError(f"option split={split!r} is not valid for breastmnist; use official")
    top = Path(root).expanduser()
    path = _find(top if top.is_file() else require_root(root, "BreastMNIST"), size).absolute()
    frames, start = [], 0
    with np.load(path) as data:
        for s in NPZ_SPLITS:
            if f"{s}_labels" not in data:
                raise UserError(f"{path}: no {s}_labels array; is this a MedMNIST .npz?")
            y = data[f"{s}_labels"].reshape(-1)
            idx = np.arange(start, start + len(y))
            frames.append(
                pd.DataFrame(
                    {
                        "path": [f"{path}{SEPARATOR}{i}" for i in idx],
                        "image_id": [f"{s}_{i - start}" for i in idx],
                        "label": [LABELS.get(int(v), "?") for v in y],
                        "folder": s,
                    }
                )
            )
            start += len(y)
    df = pd.concat(frames, ignore_index=True)
    if (df["label"] == "?").any():
        raise UserError(f"{path}: labels must be 0 (malignant) or 1 (normal/benign)")
    df["patient_id"] = df["image_id"]
    notes = ["BreastMNIST has no patient ids: each image is treated as its own group"]
    out = build_manifest(
        df, CLASSES, dataset="breastmnist", task="binary", source="breastmnist", notes=notes,
        origin=str(path),
    )  # fmt: skip
    if split == "official":
        out["fold"] = out["folder"].map(OFFICIAL_FOLDS).astype("int64")
        out.attrs["fixed_split"] = {
            "name": "official",
            "source": "MedMNIST train/val/test arrays",
            "test_folds": [0],
            "train_folds": [1, 2],
        }
    return out
