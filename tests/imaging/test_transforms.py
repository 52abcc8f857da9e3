"""Transforms: shapes, the model's normalisation, determinism, and the study's parameters."""

import albumentations as A
import cv2
import numpy as np
import pytest
import torch

from breastbench.errors import UserError
from breastbench.imaging.resize import prepare, resize_to
from breastbench.imaging.stain import MacenkoNormalizer
from breastbench.imaging.transforms import AUGMENTATIONS, build_transforms

DATA_CONFIG = {
    "input_size": (3, 48, 40),
    "mean": (0.485, 0.456, 0.406),
    "std": (0.229, 0.224, 0.225),
    "interpolation": "bicubic",
}


@pytest.fixture
def image():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (90, 70, 3), dtype=np.uint8)


def expected_eval(image, cfg=DATA_CONFIG):
    _, h, w = cfg["input_size"]
    # shrinking uses area averaging (antialiased), enlarging the configured interpolation
    shrink = image.shape[0] >= h and image.shape[1] >= w
    interp = cv2.INTER_AREA if shrink else cv2.INTER_CUBIC
    resized = cv2.resize(image, (w, h), interpolation=interp).astype(np.float32) / 255
    normed = (resized - np.array(cfg["mean"])) / np.array(cfg["std"])
    return torch.from_numpy(normed.transpose(2, 0, 1).astype(np.float32))


@pytest.mark.parametrize("augmentation", AUGMENTATIONS)
@pytest.mark.parametrize("train", [True, False])
def test_shapes_and_dtype(image, augmentation, train):
    out = build_transforms(DATA_CONFIG, train, augmentation)(image)
    assert out.shape == (3, 48, 40) and out.dtype == torch.float32


def test_eval_is_resize_then_data_config_normalisation(image):
    expected = expected_eval(image)
    eval_transforms = (
        build_transforms(DATA_CONFIG, False),
        build_transforms(DATA_CONFIG, False, "on"),
    )
    for transform in eval_transforms:
        assert torch.allclose(transform(image), expected, atol=1e-5)
        assert torch.equal(transform(image), transform(image))  # deterministic


def test_normalisation_follows_data_config(image):
    cfg = {**DATA_CONFIG, "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}
    assert torch.allclose(build_transforms(cfg, False)(image), expected_eval(image, cfg), atol=1e-5)
    flat = np.full((48, 40, 3), 255, dtype=np.uint8)
    assert torch.allclose(build_transforms(cfg, False)(flat), torch.ones(3, 48, 40))


def test_off_never_changes_an_image_beyond_resize(image):
    off = build_transforms(DATA_CONFIG, True, "off", seed=123)
    for _ in range(5):
        assert torch.allclose(off(image), expected_eval(image), atol=1e-5)


@pytest.mark.parametrize("augmentation", ["on", "color", "geometric"])
def test_seeded_training_path_is_reproducible_and_random(image, augmentation):
    first = build_transforms(DATA_CONFIG, True, augmentation, seed=7)
    second = build_transforms(DATA_CONFIG, True, augmentation, seed=7)
    a = [first(image) for _ in range(6)]
    b = [second(image) for _ in range(6)]
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert any(not torch.equal(a[0], x) for x in a[1:])
    first.set_seed(7)
    assert torch.equal(first(image), a[0])


def _kinds(transform):
    names = []
    for t in transform.compose.transforms:
        names.append(type(t).__name__)
        names += [type(c).__name__ for c in getattr(t, "transforms", [])]
    return names


def test_study_pipeline_parameters():
    compose = build_transforms(DATA_CONFIG, True, "study").compose
    by_type = {type(t).__name__: t for t in compose.transforms}
    assert by_type["HorizontalFlip"].p == 0.5
    assert tuple(by_type["Rotate"].limit) == (-15, 15) and by_type["Rotate"].p == 0.5
    color = by_type["RandomBrightnessContrast"]
    assert tuple(color.brightness_limit) == (-0.2, 0.2)
    assert tuple(color.contrast_limit) == (-0.1, 0.1) and color.p == 0.5
    crop = by_type["OneOf"]
    assert crop.p == 0.8
    rrc = crop.transforms[0]
    assert isinstance(rrc, A.RandomResizedCrop)
    assert tuple(rrc.scale) == (0.9, 1.0) and tuple(rrc.ratio) == (0.9, 1.1)
    assert tuple(rrc.size) == (48, 40)
    zoom = crop.transforms[1]
    assert isinstance(zoom, A.Affine)
    assert tuple(zoom.scale["x"]) == pytest.approx((1 / np.sqrt(1.1), 1.0))
    assert tuple(by_type["Blur"].blur_limit) == (3, 3)


def test_presets_split_colour_and_geometry():
    color = _kinds(build_transforms(DATA_CONFIG, True, "color"))
    geometric = _kinds(build_transforms(DATA_CONFIG, True, "geometric"))
    assert "RandomBrightnessContrast" in color and "Rotate" not in color
    assert {"HorizontalFlip", "Rotate", "RandomResizedCrop"} <= set(geometric)
    assert "RandomBrightnessContrast" not in geometric and "Blur" not in geometric


def test_stain_norm_runs_before_the_resize_and_the_transform(image):
    prepared = prepare(image, (48, 40), "bicubic", stain_norm=True)
    stained = MacenkoNormalizer()(image)
    np.testing.assert_array_equal(prepared, resize_to(stained, 48, 40, "bicubic"))
    expected = expected_eval(MacenkoNormalizer()(image))
    assert torch.allclose(build_transforms(DATA_CONFIG, False)(prepared), expected, atol=1e-5)


def test_resized_cache_gives_the_same_tensors(image):
    cached = resize_to(image, 48, 40, "bicubic")
    assert cached.shape == (48, 40, 3) and cached.dtype == np.uint8
    raw = build_transforms(DATA_CONFIG, True, "on", seed=3)
    from_cache = build_transforms(DATA_CONFIG, True, "on", seed=3)
    for _ in range(5):
        assert torch.equal(raw(image), from_cache(cached))


def test_user_errors(image):
    with pytest.raises(UserError, match="augmentation"):
        build_transforms(DATA_CONFIG, True, "heavy")
    with pytest.raises(UserError, match="data_config"):
        build_transforms({"input_size": (3, 8, 8)}, True)
    with pytest.raises(UserError, match="uint8"):
        build_transforms(DATA_CONFIG, False)(image.astype(np.float32))
