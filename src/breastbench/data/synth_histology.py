"""Synthetic H&E-like tiles for the BreakHis and BACH layouts.

The class signal mimics what pathologists look at: malignant tissue has more, larger, more
variable and more irregular nuclei than benign tissue. Each patient gets its own stain tint
and a small jitter of those parameters, so a split that puts one patient in train and test
lets a model recognise the patient instead of the disease: leaky splits score visibly higher.
Drawing is vectorised (one ``cv2.fillPoly`` call per image), never per-pixel Python.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from breastbench.data.sources.bach import BINARY_MAPPING, GROUND_TRUTH
from breastbench.data.sources.bach import CLASSES as BACH_CLASSES
from breastbench.data.sources.breakhis import MAGNIFICATIONS, SUBTYPES

# nuclei per 96x64 tile at 200X, mean radius (px), size spread, boundary irregularity
BENIGN = {"count": 14.0, "radius": 1.7, "spread": 0.12, "irregular": 0.08}
MALIGNANT = {"count": 80.0, "radius": 3.6, "spread": 0.35, "irregular": 0.45}
# per-subtype flavour on top of the class signal (shape elongation, count factor)
SUBTYPE_FLAVOUR = {
    "A": (1.0, 1.0),
    "F": (1.8, 0.8),
    "PT": (1.4, 1.2),
    "TA": (1.2, 1.1),
    "DC": (1.0, 1.1),
    "LC": (2.0, 0.9),
    "MC": (1.2, 0.7),
    "PC": (1.5, 1.0),
}
MAG_SCALE = {40: 0.7, 100: 0.85, 200: 1.0, 400: 1.3}  # nuclei grow with magnification
EOSIN = np.array([232.0, 168.0, 200.0])  # RGB background (pink stroma)
HEMATOXYLIN = np.array([70.0, 45.0, 125.0])  # RGB nuclei (purple)
BACH_PARAMS = {
    "Normal": (BENIGN, 0.8),
    "Benign": (BENIGN, 1.1),
    "InSitu": (MALIGNANT, 0.85),
    "Invasive": (MALIGNANT, 1.1),
}


def patient_style(rng: np.random.Generator) -> dict:
    """A patient's stain tint (per-channel gain) and parameter jitter."""
    return {"tint": 1.0 + rng.normal(0.0, 0.05, 3), "jitter": 1.0 + rng.normal(0.0, 0.08, 2)}


def draw_tile(rng, hw, params, style, scale=1.0, elongation=1.0, count_factor=1.0) -> np.ndarray:
    """Draw one (H, W, 3) uint8 RGB tile of stroma with nuclei."""
    h, w = hw
    px = w / 96.0  # parameters are defined on a 96-px-wide tile
    low = rng.normal(0.0, 1.0, (max(2, h // 16), max(2, w // 16))).astype(np.float32)
    texture = cv2.resize(low, (w, h), interpolation=cv2.INTER_CUBIC)[:, :, None]
    img = EOSIN * (1.0 + 0.05 * texture)
    n = rng.poisson(params["count"] * count_factor * style["jitter"][0] * px**2 / scale**2)
    radius = params["radius"] * scale * px * style["jitter"][1]
    r = radius * np.clip(1.0 + params["spread"] * rng.normal(size=(n, 1)), 0.4, None)
    angles = np.linspace(0.0, 2 * np.pi, 12, endpoint=False)[None, :] + rng.uniform(0, 6.3, (n, 1))
    wobble = 1.0 + params["irregular"] * rng.uniform(-1.0, 1.0, (n, 12))
    centre = rng.uniform((0, 0), (w, h), (n, 1, 2))
    pts = np.stack([elongation * np.cos(angles), np.sin(angles)], axis=-1) * (r * wobble)[..., None]
    rot = rng.uniform(0, np.pi, (n, 1, 1))
    rotated = np.concatenate(
        [
            pts[..., :1] * np.cos(rot) - pts[..., 1:] * np.sin(rot),
            pts[..., :1] * np.sin(rot) + pts[..., 1:] * np.cos(rot),
        ],
        axis=-1,
    )
    mask = np.zeros((h, w), np.uint8)
    if n:
        cv2.fillPoly(mask, list(np.round(centre + rotated).astype(np.int32)), 255)
    alpha = cv2.GaussianBlur(mask, (3, 3), 0).astype(np.float32)[:, :, None] / 255.0
    img = img * (1.0 - 0.9 * alpha) + HEMATOXYLIN * 0.9 * alpha
    img = img * style["tint"] + rng.normal(0.0, 4.0, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _save(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1])):
        raise OSError(f"could not write {path}")


def write_breakhis(root: Path, rng, patients_per_subtype: int, images_per_mag: int, hw) -> int:
    """Write an official-layout BreakHis tree; return the number of images.

    The first patient of every subtype has two slides (``AB``/``CD`` suffixes), as in the real
    data, so the default numeric patient grouping has folders to merge.
    """
    base = root / "BreaKHis_v1" / "histology_slides" / "breast"
    numbers = rng.choice(np.arange(10000, 99999), len(SUBTYPES) * patients_per_subtype, False)
    count = 0
    for s_idx, (code, (cls, subtype_dir)) in enumerate(SUBTYPES.items()):
        params = BENIGN if cls == "benign" else MALIGNANT
        elongation, count_factor = SUBTYPE_FLAVOUR[code]
        for p in range(patients_per_subtype):
            number = numbers[s_idx * patients_per_subtype + p]
            style = patient_style(rng)
            slides = [f"{number}AB", f"{number}CD"] if p == 0 else [str(number)]
            for mag in MAGNIFICATIONS:
                for i in range(images_per_mag):
                    slide = slides[i % len(slides)]
                    folder = f"SOB_{cls[0].upper()}_{code}_14-{slide}"
                    name = f"SOB_{cls[0].upper()}_{code}-14-{slide}-{mag}-{i + 1:03d}.png"
                    tile = draw_tile(
                        rng, hw, params, style, MAG_SCALE[mag], elongation, count_factor
                    )
                    _save(base / cls / "SOB" / subtype_dir / folder / f"{mag}X" / name, tile)
                    count += 1
    return count


def write_bach(root: Path, rng, per_class: int, hw) -> int:
    """Write a BACH-layout tree (``Photos/<class>/<x>NNN.tif`` + ground truth CSV, CRLF)."""
    photos = root / "ICIAR2018_BACH_Challenge" / "Photos"
    prefixes = {"Normal": "n", "Benign": "b", "InSitu": "is", "Invasive": "iv"}
    lines = []
    for cls in BACH_CLASSES:
        params, count_factor = BACH_PARAMS[cls]
        assert BINARY_MAPPING[cls] in ("benign", "malignant")
        for i in range(per_class):
            name = f"{prefixes[cls]}{i + 1:03d}.tif"
            tile = draw_tile(rng, hw, params, patient_style(rng), 1.0, 1.0, count_factor)
            _save(photos / cls / name, tile)
            lines.append(f"{name},{cls}\r\n")
    (photos / GROUND_TRUTH).write_text("".join(lines), newline="")
    return len(lines)
