"""Macenko stain normalisation for H&E histopathology images.

Different labs stain and scan differently, so the same tissue can look more pink or more purple.
Macenko et al. ("A method for normalizing histology slides for quantitative analysis",
ISBI 2009) separate an RGB image into haematoxylin (H) and eosin (E) concentrations and redraw
it with reference stain colours, which changes colour without touching tissue structure; the
study suggests it as a domain-aware alternative to colour jitter.

The method, as implemented here:

1. Optical density ``OD = -ln(I / Io)`` per channel (Beer-Lambert; ``Io`` is the background
   light intensity).
2. Keep tissue pixels, whose OD exceeds ``beta`` in every channel.
3. Project their OD onto the plane of the two leading eigenvectors of the OD covariance.
4. The stain vectors are the directions at the ``alpha`` and ``100 - alpha`` percentiles of
   the angle in that plane (robust extremes, not min/max); H is the one with more red OD.
5. Concentrations by least squares; each stain is rescaled so its 99th percentile matches the
   reference, and the image is rebuilt with the reference stain vectors.

The default reference is the standard H&E stain matrix and maximum concentrations distributed
with Macenko's original MATLAB code (also used by most re-implementations); ``fit`` replaces
them with the ones estimated from a reference image.
"""

from __future__ import annotations

import numpy as np

from breastbench.errors import UserError

# Columns: H and E unit stain vectors in OD space (R, G, B); Macenko's reference values.
REFERENCE_STAIN_MATRIX = np.array([[0.5626, 0.2159], [0.7201, 0.8012], [0.4062, 0.5581]])
REFERENCE_MAX_CONCENTRATIONS = np.array([1.9705, 1.0308])

# Fewer tissue pixels than this cannot define two stain directions robustly.
MIN_TISSUE_PIXELS = 50


def optical_density(image: np.ndarray, io: float) -> np.ndarray:
    """(N, 3) optical densities of an (H, W, 3) uint8 image; 0-valued pixels count as 1."""
    rgb = np.clip(image.reshape(-1, 3).astype(float), 1.0, None)
    return -np.log(rgb / io)


def estimate_stains(
    od: np.ndarray, alpha: float = 1.0, beta: float = 0.15
) -> tuple[np.ndarray, np.ndarray] | None:
    """Stain matrix (3, 2), columns H then E, unit norm, and tissue mask; None if no tissue."""
    tissue = np.all(od > beta, axis=1)
    if tissue.sum() < MIN_TISSUE_PIXELS:
        return None
    od_t = od[tissue]
    _, eigvecs = np.linalg.eigh(np.cov(od_t, rowvar=False))
    plane = eigvecs[:, [2, 1]]  # eigh sorts ascending: the two largest span the stain plane
    plane *= np.where(plane.sum(axis=0) < 0, -1.0, 1.0)  # point into positive OD
    proj = od_t @ plane
    phi = np.arctan2(proj[:, 1], proj[:, 0])
    lo, hi = np.percentile(phi, [alpha, 100.0 - alpha])
    v1 = plane @ np.array([np.cos(lo), np.sin(lo)])
    v2 = plane @ np.array([np.cos(hi), np.sin(hi)])
    stains = np.column_stack([v1, v2] if v1[0] > v2[0] else [v2, v1])
    stains *= np.where(stains.sum(axis=0) < 0, -1.0, 1.0)
    return stains / np.linalg.norm(stains, axis=0), tissue


def concentrations(od: np.ndarray, stains: np.ndarray) -> np.ndarray:
    """(2, N) least-squares stain concentrations with ``od.T ~= stains @ C``."""
    return np.linalg.lstsq(stains, od.T, rcond=None)[0]


class MacenkoNormalizer:
    """Normalise H&E images to reference stain colours (callable: uint8 image -> uint8 image).

    Args:
        io: background (transmitted light) intensity; 240 as in Macenko's code.
        alpha: percentile (in %) defining the robust extreme stain angles.
        beta: OD threshold separating tissue from background.

    An image with too little tissue (e.g. background only) cannot be separated into stains;
    it is returned unchanged and ``last_fallback`` is set to True, so a pipeline never crashes
    on a blank tile.
    """

    def __init__(self, io: float = 240.0, alpha: float = 1.0, beta: float = 0.15) -> None:
        self.io, self.alpha, self.beta = float(io), float(alpha), float(beta)
        self.stain_matrix = REFERENCE_STAIN_MATRIX / np.linalg.norm(REFERENCE_STAIN_MATRIX, axis=0)
        self.max_concentrations = REFERENCE_MAX_CONCENTRATIONS.copy()
        self.last_fallback = False

    def fit(self, reference: np.ndarray) -> MacenkoNormalizer:
        """Take the reference stain matrix and maximum concentrations from an image."""
        image = _check_image(reference)
        od = optical_density(image, self.io)
        found = estimate_stains(od, self.alpha, self.beta)
        if found is None:
            raise UserError(
                "stain normalisation reference image has almost no tissue (only background); "
                "choose a reference tile with stained tissue"
            )
        self.stain_matrix = found[0]
        self.max_concentrations = np.percentile(concentrations(od, found[0]), 99, axis=1)
        return self

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """Return ``image`` redrawn with the reference stains (uint8, same shape)."""
        image = _check_image(image)
        od = optical_density(image, self.io)
        found = estimate_stains(od, self.alpha, self.beta)
        if found is None:
            self.last_fallback = True
            return image.copy()
        self.last_fallback = False
        conc = concentrations(od, found[0])
        max_c = np.percentile(conc, 99, axis=1)
        conc *= (self.max_concentrations / np.where(max_c > 0, max_c, 1.0))[:, None]
        rgb = self.io * np.exp(-(self.stain_matrix @ conc))
        return np.clip(np.rint(rgb.T), 0, 255).astype(np.uint8).reshape(image.shape)


def _check_image(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise UserError(
            f"stain normalisation expects an (H, W, 3) uint8 RGB image, got shape {image.shape} "
            f"dtype {image.dtype}; read images with breastbench.data.read_image"
        )
    return image


def macenko_normalize(image: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """One-off Macenko normalisation to a reference image (default: standard H&E stains)."""
    normalizer = MacenkoNormalizer()
    if reference is not None:
        normalizer.fit(reference)
    return normalizer(image)
