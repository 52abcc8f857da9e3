"""Load what :func:`breastbench.data.synthetic.synthesize` wrote.

A synthetic tree uses the real layout on purpose, so loading it is the real source plus a
``synthetic`` flag (results computed on it must never pass for real ones) and its own dataset
name.
"""

from __future__ import annotations

import pandas as pd

from breastbench.data.sources import bach, bracs, breakhis, cmmd, density_presets, embed, pcam


def _mark(df: pd.DataFrame, name: str) -> pd.DataFrame:
    df["dataset"] = name
    df.attrs.update(dataset=name, source=name, synthetic=True)
    df.attrs["notes"] = ["synthetic data: numbers on it say nothing about real images"] + list(
        df.attrs.get("notes", [])
    )
    return df


def synthetic_breakhis(root, task="binary", magnification=None, group_by="patient"):
    """Synthetic BreakHis tree (official layout and names)."""
    df = breakhis.load(root, task=task, magnification=magnification, group_by=group_by)
    return _mark(df, "synthetic-breakhis")


def synthetic_bach(root, task="multiclass"):
    """Synthetic BACH tree (Photos/<class>/*.tif + ground truth CSV)."""
    return _mark(bach.load(root, task=task), "synthetic-bach")


def synthetic_density(
    root, image_format="dicom", skip_invalid=False, skip_missing=False, check_files=True
):
    """Synthetic VinDr-style density tree (DICOM, or the PNG copies with image_format=png)."""
    df = density_presets.vindr(
        root,
        image_format=image_format,
        skip_invalid=skip_invalid,
        skip_missing=skip_missing,
        check_files=check_files,
    )
    return _mark(df, "synthetic-density")


def synthetic_bracs(root, task="multiclass", version="latest_version", split=None, wsi_table=None):
    """Synthetic BRACS RoI tree (BRACS_RoI/latest_version/<set>/<n>_<CLASS>/*.png + BRACS.xlsx)."""
    df = bracs.load(root, task=task, version=version, split=split, wsi_table=wsi_table)
    return _mark(df, "synthetic-bracs")


def synthetic_pcam(root, task="binary", split=None):
    """Synthetic PCam HDF5 files (camelyonpatch_level_2_split_<set>_{x,y}.h5 + meta CSVs)."""
    return _mark(pcam.load(root, task=task, split=split), "synthetic-pcam")


def synthetic_cmmd(root, task="binary", clinical=None):
    """Synthetic CMMD tree (CMMD/<ID1>/<study>/<series>/*.dcm + clinical xlsx)."""
    return _mark(cmmd.load(root, task=task, clinical=clinical), "synthetic-cmmd")


def synthetic_embed(
    root, metadata=None, clinical=None, image_type="2D", skip_missing=False, check_files=True
):
    """Synthetic EMBED tree (tables/EMBED_OpenData_*.csv + images/cohort_1/...)."""
    df = embed.load(
        root,
        metadata=metadata,
        clinical=clinical,
        image_type=image_type,
        skip_missing=skip_missing,
        check_files=check_files,
    )
    return _mark(df, "synthetic-embed")
