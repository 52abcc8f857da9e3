"""Density presets for the public mammography schemas: VinDr-Mammo, RSNA, CBIS-DDSM, INbreast.

Each preset only knows its dataset's column names, file layout and quirks, then hands rows to
:func:`breastbench.data.sources.density.build_density_manifest`, so exclusion counting and file
checks behave identically everywhere.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from breastbench.data.sources._common import require_root
from breastbench.data.sources.density import build_density_manifest, read_table, require_columns
from breastbench.data.walk import list_dir
from breastbench.errors import UserError


def _csv(root: Path, csv: str | None, default: str) -> Path:
    return Path(csv) if csv else root / default


def vindr(
    root, csv=None, image_format="dicom", skip_invalid=False, skip_missing=False, check_files=True
) -> pd.DataFrame:
    """VinDr-Mammo ``breast-level_annotations.csv``; images ``images/<study>/<image>.dicom``.

    VinDr ships no patient id; the study is the patient (one screening exam per woman).
    ``image_format="png"`` reads converted copies at ``png/<study>/<image>.png`` instead.
    """
    root = require_root(root, "VinDr-Mammo")
    csv_path = _csv(root, csv, "breast-level_annotations.csv")
    table = read_table(csv_path)
    cols = ["study_id", "image_id", "laterality", "view_position", "breast_density"]
    require_columns(table, cols, csv_path)
    folder, ext = {"dicom": ("images", ".dicom"), "png": ("png", ".png")}.get(
        image_format, (None, None)
    )
    if folder is None:
        raise UserError(f"option image_format={image_format!r}: choose 'dicom' or 'png'")
    records = [
        {
            "path": str(root / folder / r["study_id"] / f"{r['image_id']}{ext}"),
            "image_id": r["image_id"],
            "patient_id": r["study_id"],
            "study_id": r["study_id"],
            "laterality": r["laterality"].strip().upper(),
            "view": r["view_position"].strip().upper(),
            "density_raw": r["breast_density"],
        }
        for r in table.to_dict("records")
    ]
    notes = ["VinDr-Mammo has no patient id: the study id is used as the patient"]
    return build_density_manifest(
        records,
        csv_path=csv_path,
        density_col="breast_density",
        dataset="vindr",
        source="vindr",
        notes=notes,
        skip_invalid=skip_invalid,
        skip_missing=skip_missing,
        check_files=check_files,
    )


def rsna(root, csv=None, skip_invalid=False, skip_missing=False, check_files=True):
    """RSNA screening mammography ``train.csv``; density is blank in about half the rows.

    Images are ``<patient_id>/<image_id>.dcm`` under ``train_images/`` (Kaggle) or ``root``.
    """
    root = require_root(root, "RSNA")
    csv_path = _csv(root, csv, "train.csv")
    table = read_table(csv_path)
    require_columns(table, ["patient_id", "image_id", "laterality", "view", "density"], csv_path)
    images = root / "train_images" if (root / "train_images").is_dir() else root
    records = [
        {
            "path": str(images / r["patient_id"] / f"{r['image_id']}.dcm"),
            "image_id": r["image_id"],
            "patient_id": r["patient_id"],
            "laterality": r["laterality"].strip().upper(),
            "view": r["view"].strip().upper(),
            "density_raw": r["density"],
        }
        for r in table.to_dict("records")
    ]
    return build_density_manifest(
        records,
        csv_path=csv_path,
        density_col="density",
        dataset="rsna",
        source="rsna",
        skip_invalid=skip_invalid,
        skip_missing=skip_missing,
        check_files=check_files,
    )


def cbis_ddsm(root, csv=None, skip_invalid=False, skip_missing=False, check_files=True):
    """CBIS-DDSM case-description CSVs (mass and calc, train and test).

    The mass files name the column ``breast_density``, the calc files ``breast density``; a
    density of 0 occurs (excluded as not assessed); an image with several abnormalities has
    several rows (kept once). Default: every ``*case_description*.csv`` in ``root``.
    """
    root = require_root(root, "CBIS-DDSM")
    files = (
        [Path(c) for c in str(csv).split(",")] if csv else sorted(root.glob("*description*.csv"))
    )
    if not files:
        raise UserError(f"no *case_description*.csv in {root}; pass --csv FILE[,FILE]")
    records = []
    for csv_path in files:
        table = read_table(csv_path)
        density_col = "breast_density" if "breast_density" in table.columns else "breast density"
        need = ["patient_id", "left or right breast", "image view", "image file path", density_col]
        require_columns(table, need, csv_path)
        for r in table.to_dict("records"):
            rel = r["image file path"].strip()
            records.append(
                {
                    "path": rel if os.path.isabs(rel) else str(root / rel),
                    "image_id": rel.split("/")[0],
                    "patient_id": r["patient_id"],
                    "laterality": r["left or right breast"].strip().upper()[:1],
                    "view": r["image view"].strip().upper(),
                    "density_raw": r[density_col],
                }
            )
    return build_density_manifest(
        records,
        csv_path=", ".join(map(str, files)),
        density_col="breast_density",
        dataset="cbis-ddsm",
        source="cbis-ddsm",
        dedupe=True,
        skip_invalid=skip_invalid,
        skip_missing=skip_missing,
        check_files=check_files,
    )


def inbreast(root, csv=None, skip_invalid=False, skip_missing=False, check_files=True):
    """INbreast ``INbreast.csv`` (``;``-separated); ACR 1-4 means A-D; blank ACR is excluded.

    ``File Name`` is only the numeric prefix of the DICOM name
    (``<file>_<patient hash>_MG_<lat>_<view>_ANON.dcm`` in ``AllDICOMs/``), so files are found
    by prefix. The public CSV's ``Patient ID`` is "removed": the hash in the DICOM name, shared
    by a woman's images, is then used as the patient.
    """
    root = require_root(root, "INbreast")
    csv_path = _csv(root, csv, "INbreast.csv")
    table = read_table(csv_path, sep=";")
    require_columns(table, ["Patient ID", "Laterality", "View", "File Name", "ACR"], csv_path)
    dicoms = root / "AllDICOMs" if (root / "AllDICOMs").is_dir() else root
    by_prefix = {n.split("_")[0]: n for n in list_dir(dicoms) if n.lower().endswith(".dcm")}
    records = []
    for r in table.to_dict("records"):
        file_id = r["File Name"].strip()
        if not file_id:
            continue  # trailing blank lines of the spreadsheet export
        name = by_prefix.get(file_id, f"{file_id}.dcm")
        patient = r["Patient ID"].strip()
        if patient.lower() in ("", "removed") and name.count("_") >= 2:
            patient = name.split("_")[1]
        records.append(
            {
                "path": str(dicoms / name),
                "image_id": file_id,
                "patient_id": patient or file_id,
                "laterality": r["Laterality"].strip().upper(),
                "view": r["View"].strip().upper(),
                "density_raw": r["ACR"],
            }
        )
    return build_density_manifest(
        records,
        csv_path=csv_path,
        density_col="ACR",
        dataset="inbreast",
        source="inbreast",
        skip_invalid=skip_invalid,
        skip_missing=skip_missing,
        check_files=check_files,
    )
