"""Test-time perturbations: named, graded 1-5, drawn from a seed per image, model-independent.

The ``robustness:`` section makes every run also predict its own test fold under each
perturbation and severity, without retraining, the way ImageNet-C, MedMNIST-C and thunder's
invariance tasks grade corruptions. A perturbation acts on the decoded image at its stored
resolution, before stain normalisation and the model's resize, so every model sees the same
perturbed image (its random draws come from ``(seed, perturbation, severity, image key)``);
sizes in pixels (blur, noise grain) scale with the image so a 700-px tile and a 96-px patch are
perturbed alike. Severity 0 is the identity.

Families and parameters (severity 1 .. 5):

- colour: ``hed`` (HED stain jitter, Tellez et al. 2018: per-channel scale ``1 +- s`` and shift
  ``+- s`` in the Ruifrok-Johnston HED space, s = 0.025, 0.05, 0.1, 0.15, 0.2),
  ``brightness_contrast`` (brightness +- 0.05..0.25 of full range, contrast x 1 +- 0.1..0.5),
  ``hue`` (hue rotation +- 0.02..0.10 of the colour circle)
- geometric: ``rotation`` (+- 5, 10, 20, 30, 45 degrees, reflected border), ``zoom`` (centre
  zoom 1.1, 1.2, 1.35, 1.5, 1.75), ``crop`` (random crop keeping 90..50 % of each side,
  resized back)
- acquisition: ``blur`` (Gaussian sigma 0.5, 1, 1.5, 2, 3 px per 224 px), ``jpeg`` (quality 80,
  60, 40, 20, 10), ``noise`` (Gaussian, sd 0.02..0.10 of full range); for mammography ``gamma``
  (gamma 1.2, 1.4, 1.7, 2.0, 2.5 or its inverse) and ``contrast`` (x 0.85, 0.7, 0.55, 0.4, 0.3
  around the mean)
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable

import cv2
import numpy as np

from breastbench.errors import UserError

SEVERITIES = (1, 2, 3, 4, 5)

# Ruifrok & Johnston (2001) stain vectors (rows: haematoxylin, eosin, DAB), as scikit-image's
# rgb2hed uses them.
_RGB_FROM_HED = np.array([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]])
_RGB_FROM_HED = _RGB_FROM_HED / np.linalg.norm(_RGB_FROM_HED, axis=1, keepdims=True)
_HED_FROM_RGB = np.linalg.inv(_RGB_FROM_HED)


def _level(values: tuple, severity: int) -> float:
    return values[severity - 1]


def _sign(rng) -> float:
    return 1.0 if rng.random() < 0.5 else -1.0


def hed_jitter(img, rng, severity):
    """HED stain jitter: scale and shift each stain's optical density."""
    s = _level((0.025, 0.05, 0.1, 0.15, 0.2), severity)
    od = -np.log(np.maximum(img.astype(np.float64), 1.0) / 255.0)
    hed = od @ _HED_FROM_RGB
    hed = hed * rng.uniform(1 - s, 1 + s, 3) + rng.uniform(-s, s, 3)
    rgb = 255.0 * np.exp(-(hed @ _RGB_FROM_HED))
    return np.clip(np.round(rgb), 0, 255).astype(np.uint8)


def brightness_contrast(img, rng, severity):
    """Brightness shift and contrast scale around the mean."""
    b = _sign(rng) * _level((0.05, 0.1, 0.15, 0.2, 0.25), severity) * 255.0
    c = 1.0 + _sign(rng) * _level((0.1, 0.2, 0.3, 0.4, 0.5), severity)
    x = img.astype(np.float32)
    return np.clip(np.round((x - x.mean()) * c + x.mean() + b), 0, 255).astype(np.uint8)


def hue(img, rng, severity):
    """Hue rotation in HSV (OpenCV's 0..180 hue scale)."""
    shift = round(_sign(rng) * _level((0.02, 0.04, 0.06, 0.08, 0.1), severity) * 180.0)
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
    hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + shift) % 180).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def rotation(img, rng, severity):
    """Rotation about the centre, border reflected."""
    angle = _sign(rng) * _level((5, 10, 20, 30, 45), severity)
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, 1.0)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def zoom(img, rng, severity):
    """Centre zoom-in by a factor, resized back."""
    f = _level((1.1, 1.2, 1.35, 1.5, 1.75), severity)
    return _crop_resize(img, 1.0 / f, 0.5, 0.5)


def crop(img, rng, severity):
    """Random crop keeping a fraction of each side, resized back."""
    keep = _level((0.9, 0.8, 0.7, 0.6, 0.5), severity)
    return _crop_resize(img, keep, rng.random(), rng.random())


def _crop_resize(img, keep: float, fy: float, fx: float):
    h, w = img.shape[:2]
    ch, cw = max(1, round(h * keep)), max(1, round(w * keep))
    top, left = round((h - ch) * fy), round((w - cw) * fx)
    part = img[top : top + ch, left : left + cw]
    return cv2.resize(part, (w, h), interpolation=cv2.INTER_LINEAR)


def blur(img, rng, severity):
    """Gaussian blur, sigma in px per 224 px of the shorter side."""
    sigma = _level((0.5, 1.0, 1.5, 2.0, 3.0), severity) * min(img.shape[:2]) / 224.0
    return cv2.GaussianBlur(img, (0, 0), sigmaX=max(sigma, 1e-3))


def jpeg(img, rng, severity):
    """JPEG re-encoding at a lower quality."""
    quality = int(_level((80, 60, 40, 20, 10), severity))
    ok, buf = cv2.imencode(".jpg", img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise UserError("JPEG encoding failed in the jpeg perturbation")
    return np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])


def noise(img, rng, severity):
    """Additive Gaussian noise (the same field on every channel of a grayscale image)."""
    sd = _level((0.02, 0.04, 0.06, 0.08, 0.1), severity) * 255.0
    gray = bool((img[..., 0] == img[..., 1]).all() and (img[..., 0] == img[..., 2]).all())
    field = rng.normal(0.0, sd, img.shape[:2] + ((1,) if gray else (3,)))
    return np.clip(np.round(img + field), 0, 255).astype(np.uint8)


def gamma(img, rng, severity):
    """Gamma curve (or its inverse), as a different detector's response."""
    g = _level((1.2, 1.4, 1.7, 2.0, 2.5), severity)
    g = g if rng.random() < 0.5 else 1.0 / g
    lut = np.clip(np.round(255.0 * (np.arange(256) / 255.0) ** g), 0, 255).astype(np.uint8)
    return lut[img]


def contrast(img, rng, severity):
    """Contrast reduction around the mean (a flatter exposure)."""
    c = _level((0.85, 0.7, 0.55, 0.4, 0.3), severity)
    x = img.astype(np.float32)
    return np.clip(np.round((x - x.mean()) * c + x.mean()), 0, 255).astype(np.uint8)


Perturbation = Callable[[np.ndarray, np.random.Generator, int], np.ndarray]
#: bump when a perturbation's pixels change: the perturbed-feature caches are keyed by it
VERSION = 1

PERTURBATIONS: dict[str, tuple[str, Perturbation]] = {
    "hed": ("colour", hed_jitter),
    "brightness_contrast": ("colour", brightness_contrast),
    "hue": ("colour", hue),
    "rotation": ("geometric", rotation),
    "zoom": ("geometric", zoom),
    "crop": ("geometric", crop),
    "blur": ("acquisition", blur),
    "jpeg": ("acquisition", jpeg),
    "noise": ("acquisition", noise),
    "gamma": ("acquisition", gamma),
    "contrast": ("acquisition", contrast),
}


def family(name: str) -> str:
    """The family of a perturbation (colour, geometric, acquisition)."""
    return PERTURBATIONS[name][0]


def check(name: str, severity: int, where: str) -> None:
    """Raise one line for an unknown perturbation or a severity outside 0-5."""
    if name not in PERTURBATIONS:
        raise UserError(
            f"{where}: unknown perturbation {name!r}; choose from {', '.join(PERTURBATIONS)}"
        )
    if isinstance(severity, bool) or not isinstance(severity, int) or not 0 <= severity <= 5:
        raise UserError(f"{where}: severity {severity!r} is not an integer 0-5")


def image_rng(seed: int, name: str, severity: int, key: str) -> np.random.Generator:
    """The generator of one image's draws: a function of seed, perturbation, severity, image."""
    words = [int(seed), zlib.crc32(name.encode()), int(severity), zlib.crc32(str(key).encode())]
    return np.random.default_rng(words)


def apply(img: np.ndarray, name: str, severity: int, seed: int, key: str) -> np.ndarray:
    """Perturb one uint8 RGB image; severity 0 returns it unchanged."""
    check(name, severity, "perturbation")
    if severity == 0:
        return img
    out = PERTURBATIONS[name][1](
        np.ascontiguousarray(img), image_rng(seed, name, severity, key), severity
    )
    return np.ascontiguousarray(out)


def image_hash(img: np.ndarray) -> str:
    """A short content hash of an image (shape and pixels): the same image gives the same hash."""
    h = hashlib.sha256(str(img.shape).encode())
    h.update(np.ascontiguousarray(img).tobytes())
    return h.hexdigest()[:16]


def parse(text: str) -> tuple[str, int]:
    """``NAME:SEVERITY`` (as ``predict --perturb`` takes it) -> (name, severity)."""
    name, sep, sev = str(text).partition(":")
    if not sep or not sev.strip().isdigit():
        raise UserError(f"--perturb {text!r}: expected NAME:SEVERITY, e.g. blur:3")
    check(name.strip(), int(sev), "--perturb")
    return name.strip(), int(sev)
