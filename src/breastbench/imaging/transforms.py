"""Image transforms: the study's augmentation pipeline, its presets, and the normalisation.

Every transform takes an (H, W, 3) uint8 RGB image and returns a float32 tensor (3, H, W)
resized to ``data_config["input_size"]`` and normalised with ``data_config["mean"/"std"]``.
``data_config`` always comes from the model (``model.data_config``), so preprocessing is never
configured twice.

Presets (``augmentation=``), training only; evaluation always just resizes:

- ``off``: resize only.
- ``on`` / ``study``: the pipeline of the histopathology study (Section 3.6), in its order:
  horizontal flip p=0.5; rotation +-15 deg p=0.5; brightness +-0.2 and contrast +-0.1 p=0.5;
  random resized crop p=0.8; blur "limit 1".
- ``color``: brightness/contrast only (the colour half of the ablation the study calls for).
- ``geometric``: flip, rotation and crop only (the geometric half).

Where albumentations 2 cannot express the study's parameters exactly:

- Crop scale [0.9, 1.1]: albumentations caps the crop area fraction at 1 (a crop cannot be
  larger than the image). We draw a crop area fraction in [0.9, 1.0] with
  ``RandomResizedCrop`` or, with equal probability, emulate the >1 half (area 1.0-1.1, a
  zoom-out) with ``Affine`` scale ``1/sqrt(1.1)..1`` and reflected borders, so the sampled
  scale covers the study's whole range uniformly.
- Crop ratio [0.05, 1.1]: with a crop of >= 90% of the area, aspect ratios far from 1 do not
  fit in the image; the sampler (torchvision's algorithm, which albumentations follows) retries
  10 times and then falls back to a centre crop. Measured with albumentations 2.0.8 on a square
  image, ~70% of the study's crops are that fallback (the whole image) and the rest have ratios
  in [0.9, 1.1]; on a raw 700x460 BreakHis image *every* crop is the same centre crop of aspect
  1.1. We use ratio (0.9, 1.1), the range the study's setting could actually produce, so that
  the "scale and aspect ratio perturbation" it describes really happens.
- Order: images are resized to the input size *first* (the study resized to 336x336 before the
  models), so augmentation acts on the model-size image and a cache of resized images gives
  exactly the same tensors as the raw images.
- Blur limit 1: albumentations' smallest box-blur kernel is 3 (it silently raises 1 to 3 with a
  warning), so the study's blur was a 3x3 box blur; we write ``blur_limit=(3, 3)`` and keep the
  library default p=0.5, since the study gives no probability.
- Rotation borders: reflected (``BORDER_REFLECT_101``, the albumentations 1.x default) so no
  black corners appear in tissue images.

Randomness: the albumentations ``Compose`` is seeded (``seed=``), so the sequence of augmented
images is reproducible; call ``transform.set_seed(seed + worker_id)`` in a DataLoader
``worker_init_fn`` so workers do not repeat each other.
"""

from __future__ import annotations

import math

import albumentations as A
import cv2
import numpy as np
import torch

from breastbench.errors import UserError
from breastbench.imaging.resize import INTERPOLATION, resize_to

AUGMENTATIONS = ("off", "on", "study", "color", "geometric")

# Study (Section 3.6) parameters, named once.
FLIP_P = 0.5
ROTATE_LIMIT, ROTATE_P = 15, 0.5
BRIGHTNESS, CONTRAST, COLOR_P = 0.2, 0.1, 0.5
CROP_P, CROP_SCALE, CROP_RATIO = 0.8, (0.9, 1.1), (0.9, 1.1)
BLUR_LIMIT = (3, 3)  # study: "limit 1"; albumentations' minimum kernel is 3


def _size_and_interp(data_config: dict) -> tuple[int, int, int]:
    message = (
        "data_config must hold input_size (3, H, W), mean and std; take it from "
        f"model.data_config (got {data_config!r})"
    )
    try:
        _, height, width = data_config["input_size"]
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(message) from exc
    if "mean" not in data_config or "std" not in data_config:
        raise UserError(message)
    name = str(data_config.get("interpolation", "bilinear")).lower()
    if name not in INTERPOLATION:
        raise UserError(
            f"unknown interpolation {name!r} in data_config; use one of {sorted(INTERPOLATION)}"
        )
    return int(height), int(width), INTERPOLATION[name]


def _crop(height: int, width: int, interp: int) -> A.BasicTransform:
    """Random resized crop with area fraction uniform over the study's [0.9, 1.1]."""
    low, high = CROP_SCALE
    # input is already (height, width): the zoom-out keeps that size
    zoom_out = A.Affine(
        scale=(1.0 / math.sqrt(high), 1.0),
        interpolation=interp,
        border_mode=cv2.BORDER_REFLECT_101,
        p=1.0,
    )
    crop = A.RandomResizedCrop(
        size=(height, width), scale=(low, 1.0), ratio=CROP_RATIO, interpolation=interp, p=1.0
    )
    # equal weights = equal widths of the two halves [0.9, 1.0] and [1.0, 1.1]
    return A.OneOf([crop, zoom_out], p=CROP_P)


def _augmentations(preset: str, height: int, width: int, interp: int) -> list:
    flip = A.HorizontalFlip(p=FLIP_P)
    rotate = A.Rotate(
        limit=ROTATE_LIMIT, interpolation=interp, border_mode=cv2.BORDER_REFLECT_101, p=ROTATE_P
    )
    color = A.RandomBrightnessContrast(
        brightness_limit=BRIGHTNESS, contrast_limit=CONTRAST, p=COLOR_P
    )
    crop = _crop(height, width, interp)
    blur = A.Blur(blur_limit=BLUR_LIMIT, p=0.5)
    return {
        "off": [],
        "on": [flip, rotate, color, crop, blur],
        "study": [flip, rotate, color, crop, blur],
        "color": [color],
        "geometric": [flip, rotate, crop],
    }[preset]


class ImageTransform:
    """Callable uint8 (H, W, 3) RGB image -> normalised float32 tensor (3, H, W).

    The albumentations pipeline: the one resize, the random augmentations (training only),
    then normalisation with the model's mean/std. Stain normalisation is a preprocessing step
    of the decoded image (:func:`breastbench.imaging.resize.prepare`), before this transform.
    """

    def __init__(self, compose: A.Compose) -> None:
        self.compose = compose

    def set_seed(self, seed: int | None) -> None:
        """Re-seed the random augmentations (e.g. per DataLoader worker)."""
        self.compose.set_random_seed(seed)

    def __call__(self, image: np.ndarray) -> torch.Tensor:
        """Transform one image."""
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise UserError(
                f"transforms expect an (H, W, 3) uint8 RGB image, got shape {image.shape} "
                f"dtype {image.dtype}"
            )
        out = self.compose(image=image)["image"]
        return torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1), dtype=np.float32))


def build_transforms(
    data_config: dict,
    train: bool,
    augmentation: str = "off",
    *,
    seed: int | None = 0,
) -> ImageTransform:
    """The transform for training (``train=True``) or evaluation of one model.

    Args:
        data_config: ``model.data_config`` (input_size, mean, std, interpolation).
        train: apply the random ``augmentation`` preset; evaluation only resizes.
        augmentation: one of ``off``, ``on``/``study``, ``color``, ``geometric``.
        seed: seed of the random augmentations (reproducible sequence).
    """
    if augmentation not in AUGMENTATIONS:
        raise UserError(
            f"unknown augmentation {augmentation!r}; choose one of {', '.join(AUGMENTATIONS)}"
        )
    height, width, interp = _size_and_interp(data_config)
    steps = _augmentations(augmentation, height, width, interp) if train else []
    compose = A.Compose(
        [
            # the pipeline's one resize (a no-op on cached, already resized images)
            A.Lambda(image=_Resize(height, width, str(data_config.get("interpolation")))),
            *steps,
            A.Normalize(mean=data_config["mean"], std=data_config["std"], max_pixel_value=255.0),
        ],
        seed=seed,
    )
    return ImageTransform(compose)


class _Resize:
    """Picklable albumentations image function wrapping :func:`resize_to`."""

    def __init__(self, height: int, width: int, interpolation: str) -> None:
        self.size = (height, width, interpolation)

    def __call__(self, image: np.ndarray, **_) -> np.ndarray:
        return resize_to(image, *self.size)
