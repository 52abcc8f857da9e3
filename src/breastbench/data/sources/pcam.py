"""PatchCamelyon (Veeling et al., MICCAI 2018): 327,680 96x96 lymph-node patches, tumour or not.

Layout as published (https://github.com/basveeling/pcam, the README's file table)::

    camelyonpatch_level_2_split_{train,valid,test}_x.h5   dataset 'x': (N, 96, 96, 3) uint8
    camelyonpatch_level_2_split_{train,valid,test}_y.h5   dataset 'y': (N, 1, 1, 1) uint8
    camelyonpatch_level_2_split_{train,valid,test}_meta.csv   coord_y, coord_x, tumor_patch,
                                                              center_tumor_patch, wsi

(262,144 / 32,768 / 32,768 patches). The files are read where they lie, never unpacked: each
manifest row's path is ``<..._x.h5>#<index>`` and the image reader fetches that one patch
through h5py (:mod:`breastbench.data.h5members`). Only the labels (one byte per patch) and the
array shapes are read here. The label is the centre 32x32 region's (``y``): ``normal`` or
``tumor``.

Grouping: patches of one whole-slide image are correlated, so folds are grouped by the ``wsi``
column of the ``*_meta.csv`` files when they are present (Camelyon16 has one slide per lymph
node, so this groups by slide rather than by woman). Without them each patch is its own group
and a note says so; ``split: official`` then keeps the published slide-disjoint sets as a
fixed ``fold`` column (0 = test, 1 = train, 2 = valid).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from breastbench.data.h5members import SEPARATOR
from breastbench.data.manifest import build_manifest
from breastbench.data.sources._common import choose, require_root
from breastbench.errors import UserError

CLASSES = ["normal", "tumor"]
SPLITS = ("train", "valid", "test")
OFFICIAL_FOLDS = {"test": 0, "train": 1, "valid": 2}
PREFIX = "camelyonpatch_level_2_split_"
PATCH_SHAPE = (96, 96, 3)


def split_files(root: Path, split: str) -> tuple[Path, Path, Path]:
    """The x, y and meta files of one split."""
    base = root / f"{PREFIX}{split}"
    return Path(f"{base}_x.h5"), Path(f"{base}_y.h5"), Path(f"{base}_meta.csv")


def _labels(y_file: Path, n: int) -> np.ndarray:
    import h5py

    with h5py.File(y_file, "r") as fh:
        if "y" not in fh:
            raise UserError(f"{y_file}: no dataset 'y'; is this a PCam label file?")
        y = np.asarray(fh["y"][...]).reshape(-1)
    if len(y) != n:
        raise UserError(f"{y_file}: {len(y)} labels for {n} patches in the x file")
    if not np.isin(y, (0, 1)).all():
        raise UserError(f"{y_file}: labels must be 0 or 1")
    return y.astype(np.int64)


def _n_patches(x_file: Path) -> int:
    import h5py

    from breastbench.data.h5members import image_dataset

    try:
        with h5py.File(x_file, "r") as fh:
            data = image_dataset(fh, str(x_file))
            if tuple(data.shape[1:]) != PATCH_SHAPE or data.dtype != np.uint8:
                raise UserError(
                    f"{x_file}: patches are {data.shape[1:]} {data.dtype}; PCam's are "
                    f"{PATCH_SHAPE} uint8"
                )
            return int(data.shape[0])
    except OSError as err:
        raise UserError(f"cannot open {x_file}: {err}; re-download or gunzip it") from None


def _wsi(meta_file: Path, n: int) -> np.ndarray | None:
    if not meta_file.is_file():
        return None
    meta = pd.read_csv(meta_file, dtype={"wsi": str})
    if "wsi" not in meta.columns:
        raise UserError(f"{meta_file}: no 'wsi' column; PCam's meta files have one")
    if len(meta) != n:
        raise UserError(f"{meta_file}: {len(meta)} rows for {n} patches")
    return meta["wsi"].to_numpy(dtype=str)


def _split_frame(root: Path, split: str) -> tuple[pd.DataFrame, bool] | None:
    x_file, y_file, meta_file = split_files(root, split)
    if not x_file.is_file():
        if Path(f"{x_file}.gz").is_file():
            raise UserError(
                f"{x_file}.gz is compressed; gunzip it in place (the .h5 is read lazily)"
            )
        return None
    if not y_file.is_file():
        raise UserError(f"{x_file} has no label file {y_file.name} beside it")
    n = _n_patches(x_file)
    y = _labels(y_file, n)
    index = np.arange(n).astype(str)
    wsi = _wsi(meta_file, n)
    frame = pd.DataFrame(
        {
            "path": np.char.add(f"{x_file.absolute()}{SEPARATOR}", index),
            "label": np.asarray(CLASSES, dtype=object)[y],
            "image_id": np.char.add(f"{split}_", index),
            "folder": split,
        }
    )
    frame["slide_id"] = wsi if wsi is not None else frame["image_id"]
    frame["patient_id"] = frame["slide_id"]
    return frame, wsi is not None


def load(root, task: str = "binary", split: str | None = None) -> pd.DataFrame:
    """Manifest of the PCam patches (one row per patch, paths ``<file.h5>#<index>``)."""
    choose(task, ("binary",), "task")
    if split not in (None, "", "official"):
        raise UserError(f"option split={split!r} is not valid for pcam; use split: official")
    top = require_root(root, "PCam")
    found = {s: f for s in SPLITS if (f := _split_frame(top, s)) is not None}
    if not found:
        raise UserError(
            f"no PCam files under {top}: expected {PREFIX}{{train,valid,test}}_{{x,y}}.h5"
        )
    with_meta = [s for s, (_, m) in found.items() if m]
    df = pd.concat([f for f, _ in found.values()], ignore_index=True)
    notes = [f"splits found: {', '.join(f'{s} {len(found[s][0])}' for s in found)}"]
    if len(with_meta) == len(found):
        notes.append(
            f"folds grouped by whole-slide image (meta 'wsi' column): {df['slide_id'].nunique()} "
            "slides"
        )
    else:
        missing = [s for s in found if s not in with_meta]
        notes.append(
            f"no *_meta.csv for {', '.join(missing)}: those patches are their own groups, so "
            "folds may put one slide on both sides; use split: official or add the meta files"
        )
    out = build_manifest(
        df, CLASSES, dataset="pcam", task=task, source="pcam", notes=notes, origin=str(top)
    )
    out.attrs["group_col"] = "patient_id"
    if split == "official":
        out["fold"] = out["folder"].map(OFFICIAL_FOLDS).astype("int64")
        out.attrs["fixed_split"] = {
            "name": "official",
            "source": "PCam train/valid/test files",
            "test_folds": [OFFICIAL_FOLDS["test"]],
            "train_folds": [OFFICIAL_FOLDS["train"], OFFICIAL_FOLDS["valid"]],
        }
    return out
