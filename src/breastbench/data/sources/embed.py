"""EMBED, the Emory Breast Imaging Dataset (Jeong et al., Radiol. AI 2023): density per exam.

Layout as released on the AWS Open Data registry (the EMBED open-data README)::

    tables/EMBED_OpenData_metadata.csv   one row per DICOM: empi_anon, acc_anon,
                                         anon_dicom_path, ViewPosition, ImageLateralityFinal,
                                         FinalImageType (2D, C-view, ...)
    tables/EMBED_OpenData_clinical.csv   one row per finding: empi_anon, acc_anon, tissueden
                                         (1-4 = BI-RADS a-d), side, asses, ...
    images/cohort_1/<empi>/<acc>/<file>.dcm (``anon_dicom_path``, whose site-specific prefix up to
                                         ``anon_dicom/`` or ``images/`` is replaced by ROOT)

(``*_reduced.csv`` copies, as the open-data release names them, are found too.) The two tables
are joined on the exam (``acc_anon``); density is an exam-level reading, repeated on each
finding row of the exam. Rows with no density (blank ``tissueden``), or a ``tissueden``
outside 1-4, are excluded and counted, as are exams whose finding rows disagree and images
whose ``FinalImageType`` is not ``image_type`` (default ``2D``). One row per image; patient =
``empi_anon``, study = ``acc_anon``; view and laterality from the metadata columns.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd

from breastbench.data.sources._common import require_root
from breastbench.data.sources.density import (
    build_density_manifest,
    normalize_density,
    read_table,
    require_columns,
)
from breastbench.errors import UserError

META_COLUMNS = ["empi_anon", "acc_anon", "anon_dicom_path", "ViewPosition", "ImageLateralityFinal"]
CLINICAL_COLUMNS = ["acc_anon", "tissueden"]
CONFLICT = "exam with conflicting tissueden rows"
OTHER_TYPE = "FinalImageType not {}"
OUT_OF_RANGE = "tissueden outside 1-4"


def _table(top: Path, given: str | None, stem: str) -> Path:
    if given:
        return Path(given).expanduser()
    for folder in (top / "tables", top):
        for name in (f"{stem}.csv", f"{stem}_reduced.csv"):
            if (folder / name).is_file():
                return folder / name
    raise UserError(f"no {stem}.csv under {top} or {top / 'tables'}; pass the file as an option")


def image_path(top: Path, anon_path: str) -> str:
    """ROOT plus ``anon_dicom_path`` after its site prefix (``.../anon_dicom/`` or ``images/``)."""
    text = anon_path.strip().replace("\\", "/")
    for marker in ("anon_dicom/", "images/"):
        if marker in text:
            return str(top / "images" / text.split(marker, 1)[1])
    return str(top / text.lstrip("/"))


def _exam_density(clinical: pd.DataFrame) -> tuple[dict[str, str], set[str]]:
    """``exam -> tissueden`` and the exams whose finding rows disagree."""
    density, conflicts = {}, set()
    for exam, values in clinical.groupby("acc_anon")["tissueden"]:
        found = {v.strip().removesuffix(".0") for v in values if v.strip()}
        if len(found) > 1:
            conflicts.add(exam)
        density[exam] = found.pop() if len(found) == 1 else ""
    return density, conflicts


def _normalize(value):
    text = str(value).strip()
    if text and text not in ("1", "2", "3", "4"):
        return None, OUT_OF_RANGE
    return normalize_density(text)


def load(
    root,
    metadata: str | None = None,
    clinical: str | None = None,
    image_type: str = "2D",
    skip_missing: bool = False,
    check_files: bool = True,
) -> pd.DataFrame:
    """Manifest of EMBED images with their exam's BI-RADS density (A-D)."""
    top = require_root(root, "EMBED")
    meta_path = _table(top, metadata, "EMBED_OpenData_metadata")
    clin_path = _table(top, clinical, "EMBED_OpenData_clinical")
    meta, clin = read_table(meta_path), read_table(clin_path)
    require_columns(meta, META_COLUMNS, meta_path)
    require_columns(clin, CLINICAL_COLUMNS, clin_path)
    density, conflicts = _exam_density(clin)
    excluded: Counter = Counter()
    records = []
    for r in meta.to_dict("records"):
        kind = r.get("FinalImageType", image_type).strip()
        if image_type and kind != image_type:
            excluded[OTHER_TYPE.format(image_type)] += 1
            continue
        exam = r["acc_anon"].strip()
        if exam in conflicts:
            excluded[CONFLICT] += 1
            continue
        path = image_path(top, r["anon_dicom_path"])
        records.append(
            {
                "path": path,
                "image_id": Path(path).stem,
                "patient_id": r["empi_anon"].strip(),
                "study_id": exam,
                "view": r["ViewPosition"].strip().upper(),
                "laterality": r["ImageLateralityFinal"].strip().upper()[:1],
                "density_raw": density.get(exam, ""),
            }
        )
    notes = [f"metadata {meta_path.name} joined with {clin_path.name} on acc_anon (the exam)"]
    return build_density_manifest(
        records,
        csv_path=clin_path,
        density_col="tissueden",
        dataset="embed",
        source="embed",
        excluded=excluded,
        notes=notes,
        normalize=_normalize,
        skip_invalid=False,
        skip_missing=skip_missing,
        check_files=check_files,
    )
