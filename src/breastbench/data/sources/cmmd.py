"""CMMD, the Chinese Mammography Database (Cui et al., TCIA 2021): benign/malignant per breast.

Layout as downloaded from The Cancer Imaging Archive (collection "CMMD", NBIA data retriever,
descriptive directory names)::

    CMMD/<ID1>/<study date and uid>/<series>/1-1.dcm, 1-2.dcm, ...
    CMMD_clinicaldata_revision.xlsx    (or a CSV export of it)

The clinical table (TCIA's collection page) has one row per affected breast with columns
``ID1`` (patient, e.g. ``D1-0001``), ``LeftRight`` (L/R), ``Age``, ``number``, ``abnormality``
(calcification/mass/both), ``classification`` (Benign/Malignant) and ``subtype`` (molecular
subtype, Luminal A/Luminal B/HER2-enriched/triple negative, for the D2 cohort). Images carry
their breast in the DICOM header (``ImageLaterality``, view in ``ViewPosition``); only headers
are read here.

One manifest row per image; the label belongs to the breast, so each row's ``study_id`` is
``<ID1>_<L|R>`` (the breast): predictions pool per breast by that column, and folds group by
patient. Images of a breast with no clinical row (the unaffected side) are excluded and
counted. ``task``: ``binary`` (benign/malignant) or ``subtype`` (malignant breasts with a
subtype; others excluded and counted).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd

from breastbench.data.manifest import build_manifest
from breastbench.data.sources._common import choose, require_root
from breastbench.data.walk import JunkCount, walk_files
from breastbench.errors import UserError

CLINICAL = "CMMD_clinicaldata_revision"
COLUMNS = ("ID1", "LeftRight", "Age", "classification")
SUBTYPES = ["Luminal A", "Luminal B", "HER2-enriched", "triple negative"]
TASKS = {"binary": ["benign", "malignant"], "subtype": SUBTYPES}
NO_CLINICAL_ROW = "breast without a clinical row (unaffected side)"
NO_SUBTYPE = "no molecular subtype (benign or D1 cohort)"


def read_clinical(path: Path) -> pd.DataFrame:
    """The clinical table (xlsx or csv) as strings, its columns checked."""
    try:
        if path.suffix.lower() == ".csv":
            table = pd.read_csv(path, dtype=str, keep_default_na=False)
        else:
            table = pd.read_excel(path, dtype=str).fillna("")
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read the CMMD clinical table {path}: {err}") from None
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise UserError(
            f"{path}: missing column(s) {', '.join(missing)}; the CMMD clinical table has "
            f"{', '.join(COLUMNS)}, subtype"
        )
    return table


def _clinical_path(top: Path, clinical: str | None) -> Path:
    if clinical:
        return Path(clinical).expanduser()
    for folder in (top, top.parent):
        for ext in (".xlsx", ".csv"):
            if (folder / f"{CLINICAL}{ext}").is_file():
                return folder / f"{CLINICAL}{ext}"
    raise UserError(f"no {CLINICAL}.xlsx in {top} or its parent; pass clinical: FILE")


def _header(path: str) -> tuple[str, str]:
    import pydicom

    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    except Exception as err:  # pydicom raises several types on a damaged header
        raise UserError(f"cannot read the DICOM header of {path}: {err}") from None
    lat = str(getattr(ds, "ImageLaterality", "") or getattr(ds, "Laterality", "")).upper()
    if lat not in ("L", "R"):
        raise UserError(f"{path}: no ImageLaterality L/R in the header; CMMD images have one")
    return lat, str(getattr(ds, "ViewPosition", "")).upper()


def load(root, task: str = "binary", clinical: str | None = None) -> pd.DataFrame:
    """Manifest of CMMD: one row per image, the breast's label, patient grouping."""
    choose(task, tuple(TASKS), "task")
    top = require_root(root, "CMMD")
    table_path = _clinical_path(top, clinical)
    table = read_clinical(table_path)
    breasts = {
        (r["ID1"].strip(), r["LeftRight"].strip().upper()[:1]): r for r in table.to_dict("records")
    }
    images = top / "CMMD" if (top / "CMMD").is_dir() else top
    junk = JunkCount()
    paths = walk_files(images, (".dcm",), junk)
    if not paths:
        raise UserError(f"no .dcm files under {images}; point ROOT at the TCIA CMMD download")
    excluded: Counter = Counter()
    rows = []
    for path in paths:
        patient = Path(path).relative_to(images).parts[0]
        lat, view = _header(path)
        info = breasts.get((patient, lat))
        if info is None:
            excluded[NO_CLINICAL_ROW] += 1
            continue
        subtype = str(info.get("subtype", "")).strip()
        if task == "subtype":
            if subtype not in SUBTYPES:
                excluded[NO_SUBTYPE] += 1
                continue
            label = subtype
        else:
            label = info["classification"].strip().lower()
            if label not in TASKS["binary"]:
                raise UserError(
                    f"{table_path}: classification {info['classification']!r} for {patient} "
                    f"{lat}; expected Benign or Malignant"
                )
        age = str(info["Age"]).strip()
        rows.append(
            {
                "path": path,
                "image_id": str(Path(path).relative_to(images)),
                "patient_id": patient,
                "study_id": f"{patient}_{lat}",
                "laterality": lat,
                "view": view,
                "subtype": subtype or None,
                "label": label,
                "age": int(float(age)) if age else None,
                "abnormality": str(info.get("abnormality", "")).strip(),
            }
        )
    notes = [
        "one row per image, labelled by its breast; study_id is the breast (<ID1>_<L|R>) "
        "for per-breast pooling; folds group by patient (ID1)"
    ]
    if junk.note():
        notes.append(junk.note())
    return build_manifest(
        rows,
        TASKS[task],
        dataset="cmmd",
        task=task,
        source="cmmd",
        excluded=dict(excluded),
        notes=notes,
        origin=str(top),
    )
