"""The one resize of the image pipeline and the resize rules of the preprocessing record.

Resize rules:

- ``squash``: resize to the input size ignoring the aspect ratio (what both studies did);
- ``crop``: resize the shorter side to the input size, then centre-crop (timm's and
  open_clip's evaluation transforms, needed to match published zero-shot numbers);
- ``pad``: fit the longer side, pad the rest with black (letterbox).
"""

from __future__ import annotations

import cv2
import numpy as np

from breastbench.errors import UserError

RESIZE_RULES = ("squash", "crop", "pad")

INTERPOLATION = {
    "nearest": cv2.INTER_NEAREST,
    "bilinear": cv2.INTER_LINEAR,
    "linear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "cubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
    "lanczos": cv2.INTER_LANCZOS4,
}


def resize_to(image: np.ndarray, height: int, width: int, interpolation: str) -> np.ndarray:
    """The one resize of the pipeline (cache, transforms, predict, explain).

    Area averaging when shrinking (no aliasing of nuclei and texture, like an antialiased
    resize); the model's interpolation when enlarging.
    """
    if image.shape[:2] == (height, width):
        return image
    shrink = image.shape[0] >= height and image.shape[1] >= width
    interp = cv2.INTER_AREA if shrink else INTERPOLATION.get(interpolation, cv2.INTER_LINEAR)
    return cv2.resize(image, (width, height), interpolation=interp)


def apply_resize(
    image: np.ndarray, size: tuple[int, int], interpolation: str, rule: str = "squash"
) -> np.ndarray:
    """Resize ``image`` to ``size`` = (H, W) by ``rule`` (see the module docstring)."""
    h, w = size
    if rule == "squash":
        return resize_to(image, h, w, interpolation)
    ih, iw = image.shape[:2]
    if rule == "crop":
        scale = max(h / ih, w / iw)
        rh, rw = max(h, round(ih * scale)), max(w, round(iw * scale))
        resized = resize_to(image, rh, rw, interpolation)
        top, left = (rh - h) // 2, (rw - w) // 2
        return resized[top : top + h, left : left + w]
    if rule == "pad":
        scale = min(h / ih, w / iw)
        rh, rw = max(1, round(ih * scale)), max(1, round(iw * scale))
        resized = resize_to(image, rh, rw, interpolation)
        out = np.zeros((h, w, image.shape[2]), dtype=image.dtype)
        top, left = (h - rh) // 2, (w - rw) // 2
        out[top : top + rh, left : left + rw] = resized
        return out
    raise UserError(f"resize: got {rule!r}; allowed: {', '.join(RESIZE_RULES)}")


def prepare(
    image: np.ndarray,
    size: tuple[int, int],
    interpolation: str = "bicubic",
    stain_norm: bool = False,
    resize: str = "squash",
) -> np.ndarray:
    """A decoded uint8 RGB image, stain-normalised (if set) and resized to (H, W) by the rule."""
    if stain_norm:
        from breastbench.imaging.stain import macenko_normalize

        image = macenko_normalize(image)
    return np.ascontiguousarray(apply_resize(image, size, interpolation, resize))
