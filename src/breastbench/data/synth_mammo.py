"""Synthetic twins of CMMD (TCIA DICOM tree + clinical xlsx) and EMBED (two CSVs + DICOMs).

Images are the density generator's mammograms (:mod:`breastbench.data.synth_density`) stored
as 16-bit DICOM with laterality and view in the header. CMMD: a malignant breast carries a
bright spiculated-looking blob, a benign one a faint round one; only the affected breast has a
clinical row, as in the real table. EMBED: density drives the dense-tissue fraction; a few
exams have no ``tissueden``, one has disagreeing finding rows and some images are C-view, so
every exclusion the source counts occurs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from breastbench.data.dicomio import write_dicom
from breastbench.data.synth_density import FRACTIONS, MAX_VALUE, draw_mammogram

VIEWS = ("CC", "MLO")


def _dicom(path: Path, img: np.ndarray, lat: str, view: str, patient: str) -> None:
    stored = np.round(img * MAX_VALUE).astype(np.uint16)
    write_dicom(
        path,
        stored,
        window=(MAX_VALUE / 2, MAX_VALUE),
        laterality=lat,
        view=view,
        patient_id=patient,
        uid_seed=str(path),
    )


def _lesion(rng, img: np.ndarray, malignant: bool) -> np.ndarray:
    h, w = img.shape
    cy, cx = rng.uniform(0.35, 0.65) * h, rng.uniform(0.2, 0.5) * w
    y, x = np.mgrid[0:h, 0:w]
    r = (0.09 if malignant else 0.06) * min(h, w)
    blob = np.exp(-(((y - cy) ** 2 + (x - cx) ** 2) / (2 * r * r)))
    return np.clip(img + (0.45 if malignant else 0.15) * blob, 0.0, 1.0).astype(np.float32)


def write_cmmd(root: Path, rng, patients: int, hw) -> int:
    """Write ``CMMD/<ID1>/<study>/<series>/1-<n>.dcm`` and the clinical xlsx; return images."""
    rows, count = [], 0
    subtypes = ["Luminal A", "Luminal B", "HER2-enriched", "triple negative"]
    for p in range(patients):
        cohort = "D1" if p % 2 == 0 else "D2"
        pid = f"{cohort}-{p + 1:04d}"
        malignant = p % 4 in (1, 2)
        side = "L" if p % 3 else "R"
        subtype = subtypes[(p // 4) % 4] if malignant and cohort == "D2" else ""
        rows.append(
            {
                "ID1": pid,
                "LeftRight": side,
                "Age": int(rng.integers(30, 80)),
                "number": 1,
                "abnormality": "mass" if p % 2 else "calcification",
                "classification": "Malignant" if malignant else "Benign",
                "subtype": subtype,
            }
        )
        series = root / "CMMD" / pid / f"07-18-2010-NA-NA-{70000 + p}" / f"1.000000-NA-{p:05d}"
        n = 0
        for lat in ("L", "R"):
            for view in VIEWS:
                img = draw_mammogram(rng, hw, rng.uniform(0.2, 0.5), lat)
                if lat == side:
                    img = _lesion(rng, img, malignant)
                n += 1
                _dicom(series / f"1-{n}.dcm", img, lat, view, pid)
        count += n
    pd.DataFrame(rows).to_excel(root / "CMMD_clinicaldata_revision.xlsx", index=False)
    return count


def write_embed(root: Path, rng, exams_per_class: int, hw) -> int:
    """Write ``tables/EMBED_OpenData_{metadata,clinical}.csv`` and ``images/cohort_1/...``."""
    meta, clin, count = [], [], 0
    exam_no = 0
    for d, (lo, hi) in enumerate(FRACTIONS.values()):  # A-D in order
        for e in range(exams_per_class + 1):  # the extra exam per class has no density
            exam_no += 1
            empi, acc = f"{10000000 + exam_no // 2}", f"{50000000 + exam_no}"
            fraction = rng.uniform(lo, hi)
            tissueden = "" if e == exams_per_class else str(d + 1)
            clin.append({"empi_anon": empi, "acc_anon": acc, "tissueden": tissueden, "side": "B"})
            if e == 0 and d == 0:  # one exam whose two finding rows disagree
                clin.append({"empi_anon": empi, "acc_anon": acc, "tissueden": "3", "side": "L"})
            for lat in ("L", "R"):
                for view in VIEWS:
                    uid = f"1.2.826.0.1.{exam_no}.{len(meta)}"
                    kind = "C-view" if (view == "MLO" and lat == "R" and e == 1) else "2D"
                    rel = f"cohort_1/{empi}/{acc}/{uid}.dcm"
                    img = draw_mammogram(rng, hw, fraction, lat)
                    _dicom(root / "images" / rel, img, lat, view, empi)
                    count += 1
                    meta.append(
                        {
                            "empi_anon": empi,
                            "acc_anon": acc,
                            "anon_dicom_path": f"/mnt/NAS2/mammo/anon_dicom/{rel}",
                            "ViewPosition": view,
                            "ImageLateralityFinal": lat,
                            "FinalImageType": kind,
                        }
                    )
    (root / "tables").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(meta).to_csv(root / "tables" / "EMBED_OpenData_metadata.csv", index=False)
    pd.DataFrame(clin).to_csv(root / "tables" / "EMBED_OpenData_clinical.csv", index=False)
    return count
