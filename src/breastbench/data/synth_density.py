"""Synthetic mammograms whose BI-RADS density A-D follows the fibroglandular fraction.

Each study is one woman with the four screening views (L/R x CC/MLO) sharing one density,
like VinDr-Mammo. The breast is a half-ellipse against the chest wall (mirrored by side);
smoothed noise thresholded at the class's quantile makes the dense tissue. Images are written
as 16-bit DICOM (some MONOCHROME1, all with a VOI window, so the real reading path is
exercised) and as 8-bit PNG copies, with a VinDr-style ``breast-level_annotations.csv``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from breastbench.data.dicomio import write_dicom

FRACTIONS = {"A": (0.05, 0.2), "B": (0.3, 0.45), "C": (0.55, 0.7), "D": (0.8, 0.92)}
VIEWS = [("L", "CC"), ("L", "MLO"), ("R", "CC"), ("R", "MLO")]
COLUMNS = [
    "study_id",
    "series_id",
    "image_id",
    "laterality",
    "view_position",
    "height",
    "width",
    "breast_birads",
    "breast_density",
    "split",
]
MAX_VALUE = 4095  # 12-bit detector range, as most mammography DICOMs


def draw_mammogram(rng: np.random.Generator, hw, fraction: float, laterality: str) -> np.ndarray:
    """One mammogram-like image as float32 in [0, 1] (1 = bright = dense)."""
    h, w = hw
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    a, b = w * rng.uniform(0.7, 0.9), h * rng.uniform(0.38, 0.46)
    cy = h * rng.uniform(0.45, 0.55)
    breast = (x / a) ** 2 + ((y - cy) / b) ** 2 <= 1.0  # chest wall at x = 0
    low = rng.normal(0.0, 1.0, (max(2, h // 12), max(2, w // 12))).astype(np.float32)
    field = cv2.GaussianBlur(cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC), (0, 0), 1.5)
    # nearer the nipple tissue is fattier: bias the field towards the chest wall
    field = field - 0.8 * (x / w)
    threshold = np.quantile(field[breast], 1.0 - fraction)
    dense = 1.0 / (1.0 + np.exp(-(field - threshold) / 0.08))
    img = np.where(breast, 0.3 + 0.55 * dense, 0.02)
    img = img + rng.normal(0.0, 0.02, img.shape)
    if laterality == "L":  # left breasts are displayed with the chest wall on the right
        img = img[:, ::-1]
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def write_density(root: Path, rng, studies_per_class: int, hw) -> int:
    """Write ``images/<study>/<image>.dicom``, ``png/<study>/<image>.png`` and the CSV."""
    rows = []
    for density, (lo, hi) in FRACTIONS.items():
        for s in range(studies_per_class):
            study, series = rng.bytes(16).hex(), rng.bytes(16).hex()
            fraction = rng.uniform(lo, hi)
            split = "test" if s % 5 == 4 else "training"
            for lat, view in VIEWS:
                image_id = rng.bytes(16).hex()
                img = draw_mammogram(rng, hw, fraction, lat)
                stored = np.round(img * MAX_VALUE).astype(np.uint16)
                photometric = "MONOCHROME2"
                if len(rows) % 4 == 3:  # some vendors store inverted (MONOCHROME1) images
                    stored, photometric = (MAX_VALUE - stored).astype(np.uint16), "MONOCHROME1"
                write_dicom(
                    root / "images" / study / f"{image_id}.dicom",
                    stored,
                    photometric=photometric,
                    window=(MAX_VALUE / 2, MAX_VALUE),
                    laterality=lat,
                    view=view,
                    patient_id=study,
                    uid_seed=image_id,
                )
                png = root / "png" / study / f"{image_id}.png"
                png.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(png), np.round(img * 255).astype(np.uint8))
                rows.append(
                    [
                        study,
                        series,
                        image_id,
                        lat,
                        view,
                        hw[0],
                        hw[1],
                        "BI-RADS 1",
                        f"DENSITY {density}",
                        split,
                    ]
                )
    with open(root / "breast-level_annotations.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return len(rows)
