"""Density presets for the public mammography schemas: VinDr-Mammo, RSNA, CBIS-DDSM, INbreast.

Each preset only knows its dataset's column names, file layout and quirks, then hands rows to
:func:`breastbench.data.sources.density.build_density_manifest`, so exclusion counting and file
checks behave identically everywhere.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from breastbench.data.sources._common import require_root
from breastbench.data.sources.density import (
    build_density_manifest,
    normalize_density,
    read_table,
    require_columns,
)
from breastbench.data.walk import JunkCount, list_dir, walk_files
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


_CBIS_CASE = re.compile(r"^(Mass|Calc)-(Training|Test)_(P_\d+)_(LEFT|RIGHT)_(CC|MLO)$")
_CBIS_LAYOUTS = (
    "the TCIA download (<Mass|Calc>-<Training|Test>_P_<id>_<LEFT|RIGHT>_<CC|MLO>/<date>-...-"
    "<study UID end>/<n>.000000-<series description>-<series UID end>/1-1.dcm, optionally "
    "under CBIS-DDSM/ or manifest-*/CBIS-DDSM/) or the CSV's own 'image file path' "
    "(<case>/<study UID>/<series UID>/000000.dcm)"
)


def _cbis_kind(csv_path: Path, table: pd.DataFrame) -> tuple[str | None, str | None]:
    """(Mass|Calc, Training|Test) from the official file name, else from the columns."""
    name = csv_path.name.lower()
    kind = "Mass" if "mass" in name else "Calc" if "calc" in name else None
    split = "Training" if "train" in name else "Test" if "test" in name else None
    if kind is None and "abnormality type" in table.columns and len(table):
        first = str(table["abnormality type"].iloc[0]).strip().lower()
        kind = "Mass" if first == "mass" else "Calc" if first.startswith("calc") else None
    return kind, split


def _cbis_case_folders(root: Path, junk) -> dict[str, Path]:
    """Case folder name -> folder, searched in ROOT, ROOT/CBIS-DDSM and ROOT/*/CBIS-DDSM."""
    found: dict[str, Path] = {}
    candidates = [root, root / "CBIS-DDSM"]
    candidates += [root / d / "CBIS-DDSM" for d in list_dir(root, junk, dirs=True)]
    for base in candidates:
        if base.is_dir():
            for name in list_dir(base, junk, dirs=True):
                if _CBIS_CASE.match(name):
                    found.setdefault(name, base / name)
    return found


def _cbis_pick(case: Path, rel: str, junk) -> str | None:
    """The full-mammogram DICOM of a TCIA case folder, matched by the UID endings in ``rel``."""
    dicoms = walk_files(case, (".dcm",), junk)
    parts = [p for p in rel.replace("\\", "/").split("/") if p]
    if len(parts) >= 4:  # <case>/<study UID>/<series UID>/000000.dcm
        study_end, series_end = parts[1][-5:], parts[2][-5:]
        hits = [
            d
            for d in dicoms
            if Path(d).parent.parent.name.endswith("-" + study_end)
            and Path(d).parent.name.endswith("-" + series_end)
        ]
        if len(hits) == 1:
            return hits[0]
    full = [d for d in dicoms if "full mammogram" in Path(d).parent.name.lower()]
    if len(full) == 1:
        return full[0]
    return dicoms[0] if len(dicoms) == 1 else None


def cbis_ddsm(root, csv=None, skip_invalid=False, skip_missing=False, check_files=True):
    """CBIS-DDSM case-description CSVs (mass and calc, train and test) on the TCIA download.

    The mass files name the column ``breast_density``, the calc files ``breast density``; a
    density of 0 occurs (excluded as not assessed); an image with several abnormalities has
    several rows (collapsed to one, conflicting densities noted). Images are found in the TCIA
    tree by case folder (type, split, patient, side, view) and the last five digits of the
    study and series UIDs; the CSV's path columns are optional. Default: every
    ``*description*.csv`` in ``root``.
    """
    root = require_root(root, "CBIS-DDSM")
    junk = JunkCount()
    files = _cbis_files(root, csv, junk)
    cases = _cbis_case_folders(root, junk) if check_files else {}
    by_image: dict[str, dict] = {}
    conflicts, repeats, unresolved = [], 0, 0
    for csv_path in files:
        table = read_table(csv_path)
        density_col = "breast_density" if "breast_density" in table.columns else "breast density"
        need = ["patient_id", "left or right breast", "image view", density_col]
        require_columns(table, need, csv_path)
        kind, split = _cbis_kind(csv_path, table)
        has_path = "image file path" in table.columns
        if not has_path and (kind is None or split is None):
            raise UserError(
                f"{csv_path}: without an 'image file path' column the file name must say mass "
                "or calc and train or test (as the official *_case_description_*_set.csv do); "
                "rename it"
            )
        for r in table.to_dict("records"):
            side = r["left or right breast"].strip().upper()
            view = r["image view"].strip().upper()
            rel = r["image file path"].strip() if has_path else ""
            case = rel.split("/")[0] if rel else f"{kind}-{split}_{r['patient_id']}_{side}_{view}"
            if case in by_image:
                repeats += 1
                first = by_image[case]
                if normalize_density(first["density_raw"]) != normalize_density(r[density_col]):
                    conflicts.append(f"{case} ({first['density_raw']} vs {r[density_col]})")
                continue
            path = str(root / rel) if rel and not os.path.isabs(rel) else rel
            if check_files and not (path and os.path.isfile(path)):
                picked = _cbis_pick(cases[case], rel, junk) if case in cases else None
                if picked is None:
                    unresolved += 1
                path = picked or path or str(root / case)
            by_image[case] = {
                "path": path,
                "image_id": case,
                "patient_id": r["patient_id"],
                "laterality": side[:1],
                "view": view,
                "density_raw": r[density_col],
            }
    if check_files and unresolved == len(by_image) and not skip_missing:
        raise UserError(
            f"{root}: no CBIS-DDSM image found in a known layout; known layouts are "
            f"{_CBIS_LAYOUTS}; found: {_describe_tree(root)}"
        )
    return build_density_manifest(
        list(by_image.values()),
        csv_path=", ".join(map(str, files)),
        density_col="breast_density",
        dataset="cbis-ddsm",
        source="cbis-ddsm",
        notes=_cbis_notes(junk, repeats, conflicts),
        skip_invalid=skip_invalid,
        skip_missing=skip_missing,
        check_files=check_files,
    )


def _cbis_files(root: Path, csv: str | None, junk) -> list[Path]:
    """The case-description CSVs: ``csv`` (comma-separated) or every one in ``root``."""
    files = (
        [Path(c) for c in str(csv).split(",")]
        if csv
        else [root / n for n in list_dir(root, junk, dirs=False) if _is_description(n)]
    )
    if not files:
        raise UserError(f"no *case_description*.csv in {root}; pass --csv FILE[,FILE]")
    return files


def _cbis_notes(junk, repeats: int, conflicts: list[str]) -> list[str]:
    """The manifest's notes: skipped junk, collapsed abnormality rows, conflicting densities."""
    notes = [junk.note()] if junk.note() else []
    if repeats:
        notes.append(f"{repeats} row(s) repeat an image (one per abnormality): collapsed")
    if conflicts:
        notes.append(
            f"{len(conflicts)} image(s) with conflicting densities across abnormality rows, "
            f"kept the first: {', '.join(conflicts[:3])}{' ...' if len(conflicts) > 3 else ''}"
        )
    return notes


def _is_description(name: str) -> bool:
    return "description" in name.lower() and name.lower().endswith(".csv")


def _describe_tree(root: Path) -> str:
    """A short sample of what ROOT holds (for the 'no known layout' error)."""
    names = list_dir(root)
    dirs = [n for n in names if (root / n).is_dir()]
    sample = dirs[:3] or names[:3]
    if not sample:
        return "an empty folder"
    deeper = ""
    if dirs:
        inner = list_dir(root / dirs[0])[:2]
        deeper = f" (inside {dirs[0]}: {', '.join(inner) or 'nothing'})"
    return f"{len(dirs)} folder(s), e.g. {', '.join(sample)}{deeper}"


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
