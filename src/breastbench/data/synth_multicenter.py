"""Synthetic twins of BRACS (RoI PNG tree + WSI table) and PatchCamelyon (HDF5 files).

Both use the tiles of :mod:`breastbench.data.synth_histology` (nuclei count and size carry the
class, a per-patient tint carries the patient) and the exact published layout, so the real
sources read them. In the BRACS twin each patient has two slides (so patient and WSI grouping
differ, and the WSI table matters); in the PCam twin each slide has its own tint, so a split
that puts one slide on both sides is visibly optimistic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from breastbench.data.sources import bracs, pcam
from breastbench.data.synth_histology import BENIGN, MALIGNANT, _save, draw_tile, patient_style

BRACS_PARAMS = {  # count factor per class: benign few nuclei, atypical more, malignant many
    "N": (BENIGN, 0.8),
    "PB": (BENIGN, 1.0),
    "UDH": (BENIGN, 1.3),
    "FEA": (MALIGNANT, 0.45),
    "ADH": (MALIGNANT, 0.6),
    "DCIS": (MALIGNANT, 0.9),
    "IC": (MALIGNANT, 1.2),
}


def write_bracs(root: Path, rng, slides_per_class: int, rois_per_slide: int, hw) -> int:
    """Write ``BRACS_RoI/latest_version/{train,val,test}/<n>_<CLASS>/*.png`` and BRACS.xlsx.

    Every set has ``slides_per_class`` slides per class; slides are paired into patients
    within a set (one patient, two slides of different classes), as the official split keeps
    patients within one set.
    """
    base = root / "BRACS_RoI" / "latest_version"
    slide_no, count, table = 1000, 0, []
    for set_name in bracs.SETS:
        slides = []
        for cls in bracs.CLASSES:
            for _ in range(slides_per_class):
                slide_no += 1
                slides.append((f"BRACS_{slide_no}", cls))
        order = rng.permutation(len(slides))
        for j, s in enumerate(order):
            wsi, cls = slides[s]
            patient = f"P{set_name}{j // 2:03d}"
            table.append({"WSI Filename": f"{wsi}.svs", "Patient Id": patient, "Set": set_name})
            style = patient_style(rng)
            params, factor = BRACS_PARAMS[cls]
            folder = f"{bracs.CLASSES.index(cls)}_{cls}"
            for k in range(1, rois_per_slide + 1):
                tile = draw_tile(rng, hw, params, style, 1.0, 1.0, factor)
                _save(base / set_name / folder / f"{wsi}_{cls}_{k}.png", tile)
                count += 1
    pd.DataFrame(table).to_excel(root / bracs.WSI_TABLE, sheet_name="WSI", index=False)
    return count


def pcam_patch_bank(rng, n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """``n`` normal and ``n`` tumour 96x96 tiles: (2n, 96, 96, 3) uint8 and their labels."""
    style = patient_style(rng)
    tiles = [draw_tile(rng, (96, 96), BENIGN, style) for _ in range(n)]
    tiles += [draw_tile(rng, (96, 96), MALIGNANT, style) for _ in range(n)]
    return np.stack(tiles), np.repeat(np.array([0, 1], np.uint8), n)


def write_pcam(
    root: Path,
    rng,
    counts: dict[str, int],
    slides: dict[str, int],
    meta: bool = True,
    chunk: int = 1024,
    compression: str | None = None,
) -> int:
    """Write PCam's ``_x.h5``/``_y.h5``/``_meta.csv`` per split, ``chunk`` patches at a time.

    ``counts`` are patches per split and ``slides`` slides per split (slide-disjoint across
    splits); each slide has its own tint over a bank of drawn tiles, so any size is written in
    bounded memory and time.
    """
    import h5py

    bank, bank_y = pcam_patch_bank(rng)
    first = 0
    for split, n in counts.items():
        x_file, y_file, meta_file = pcam.split_files(root, split)
        n_slides = max(2, slides[split])
        wsi_of = np.sort(rng.integers(0, n_slides, n))  # slides in order, as PCam's are
        tints = 1.0 + rng.normal(0.0, 0.06, (n_slides, 3))
        tumour_slide = np.arange(n_slides) % 2 == 0
        labels = np.zeros(n, np.uint8)
        with h5py.File(x_file, "w") as fx:
            x = fx.create_dataset(
                "x",
                (n, 96, 96, 3),
                np.uint8,
                chunks=(min(n, 64), 96, 96, 3),
                compression=compression,
            )
            for s in range(0, n, chunk):
                e = min(n, s + chunk)
                tumour = tumour_slide[wsi_of[s:e]] & (rng.random(e - s) < 0.7)
                pick = rng.integers(0, len(bank) // 2, e - s) + np.where(tumour, len(bank) // 2, 0)
                tint = tints[wsi_of[s:e]][:, None, None, :].astype(np.float32)
                x[s:e] = np.clip(bank[pick] * tint, 0, 255).astype(np.uint8)
                labels[s:e] = bank_y[pick]
        with h5py.File(y_file, "w") as fy:
            fy.create_dataset("y", data=labels.reshape(n, 1, 1, 1))
        if meta:
            names = np.array(
                [
                    f"camelyon16_{split}_{'tumor' if tumour_slide[w] else 'normal'}_{first + w:03d}"
                    for w in range(n_slides)
                ]
            )
            pd.DataFrame(
                {
                    "coord_y": rng.integers(0, 50000, n),
                    "coord_x": rng.integers(0, 50000, n),
                    "tumor_patch": labels.astype(bool),
                    "center_tumor_patch": labels.astype(bool),
                    "wsi": names[wsi_of],
                }
            ).to_csv(meta_file)
        first += n_slides
    return int(sum(counts.values()))
