"""Macenko stain normalisation on synthetic H&E images built from known stain vectors."""

import numpy as np
import pytest

from breastbench.errors import UserError
from breastbench.imaging.stain import (
    REFERENCE_STAIN_MATRIX,
    MacenkoNormalizer,
    estimate_stains,
    macenko_normalize,
    optical_density,
)

IO = 240.0


def he_image(stains, seed=0, size=64, scale=(1.0, 1.0)):
    """Beer-Lambert image: each pixel mixes H and E with random concentrations."""
    rng = np.random.default_rng(seed)
    n = size * size
    conc = np.vstack([rng.uniform(0, 1.5, n) * scale[0], rng.uniform(0, 1.0, n) * scale[1]])
    conc[1, : n // 10] = 0.0  # pure haematoxylin pixels
    conc[0, n // 10 : n // 5] = 0.0  # pure eosin pixels
    stains = stains / np.linalg.norm(stains, axis=0)
    rgb = IO * np.exp(-(stains @ conc)).T
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8).reshape(size, size, 3)


def angle(u, v):
    return np.degrees(np.arccos(np.clip(u @ v / np.linalg.norm(u) / np.linalg.norm(v), -1, 1)))


def test_recovers_known_stain_vectors_unit_norm():
    image = he_image(REFERENCE_STAIN_MATRIX)
    stains, _ = estimate_stains(optical_density(image, IO))
    assert np.linalg.norm(stains, axis=0) == pytest.approx([1.0, 1.0])
    ref = REFERENCE_STAIN_MATRIX
    assert angle(stains[:, 0], ref[:, 0]) < 3.0  # haematoxylin first
    assert angle(stains[:, 1], ref[:, 1]) < 3.0


def test_normalising_reference_to_itself_is_near_identity():
    image = he_image(REFERENCE_STAIN_MATRIX, seed=1)
    out = MacenkoNormalizer().fit(image)(image)
    assert out.dtype == np.uint8 and out.shape == image.shape
    diff = np.abs(out.astype(int) - image.astype(int))
    assert diff.mean() < 1.0 and np.percentile(diff, 99) <= 3


def test_changes_colour_towards_reference():
    other = np.array([[0.65, 0.07], [0.70, 0.99], [0.29, 0.11]])  # a different H&E lab
    source = he_image(other, seed=2, scale=(0.7, 1.4))
    reference = he_image(REFERENCE_STAIN_MATRIX, seed=3)
    out = macenko_normalize(source, reference)
    err_before = np.abs(source.mean(axis=(0, 1)) - reference.mean(axis=(0, 1))).sum()
    err_after = np.abs(out.mean(axis=(0, 1)) - reference.mean(axis=(0, 1))).sum()
    assert err_after < err_before / 3


def test_background_only_image_falls_back_unchanged():
    blank = np.full((32, 32, 3), 245, dtype=np.uint8)
    normalizer = MacenkoNormalizer()
    out = normalizer(blank)
    assert normalizer.last_fallback and np.array_equal(out, blank)
    with pytest.raises(UserError, match="no tissue"):
        MacenkoNormalizer().fit(blank)
    with pytest.raises(UserError, match="uint8"):
        normalizer(blank.astype(float))
