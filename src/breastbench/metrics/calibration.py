"""Calibration of class probabilities: ECE, MCE, Brier score, negative log-likelihood.

Every run's ``metrics.json`` carries these next to the discrimination metrics, so they are
aggregated, given intervals and compared like any metric.

- ``ece``: expected calibration error of the *top-label* confidence (the probability of the
  predicted class; for a binary task the predicted class is the one the 0.5 threshold picks),
  over ``CALIBRATION_BINS`` equal-width bins ``[k/B, (k+1)/B)`` (the last one closed at 1):
  ``sum_b n_b / N * |accuracy_b - confidence_b|`` (Guo et al., 2017; torchmetrics'
  ``MulticlassCalibrationError`` with ``norm="l1"``);
- ``ece_equal_mass``: the same over ``CALIBRATION_BINS`` bins of (nearly) equal count of the
  confidence-sorted samples (Nixon et al., 2019, "adaptive" ECE);
- ``mce``: the largest ``|accuracy_b - confidence_b|`` over non-empty equal-width bins;
- ``brier``: ``mean_i 1/2 sum_c (p_ic - [y_i = c])^2``, which is the usual binary Brier score
  ``mean (p_i - y_i)^2`` for two classes and stays in [0, 1] for more;
- ``nll``: ``mean_i -log p_i,y_i`` with probabilities clipped at ``1e-15`` (scikit-learn's
  ``log_loss`` on unclipped inputs).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from breastbench.metrics.classification import as_probability_matrix, predict_labels

CALIBRATION_BINS = 15  # torchmetrics' default
CALIBRATION_METRICS = ("ece", "ece_equal_mass", "mce", "brier", "nll")
_EPS = 1e-15


def top_label(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> tuple[np.ndarray, ...]:
    """(confidence of the predicted class, 1.0 where it is right) per sample."""
    pred = predict_labels(p, p.shape[1], threshold)
    return p[np.arange(len(p)), pred], (pred == y).astype(float)


def equal_width_bins(confidence: np.ndarray, bins: int = CALIBRATION_BINS) -> np.ndarray:
    """Bin index per sample: ``[k/B, (k+1)/B)``, the last bin closed at 1."""
    return np.minimum((confidence * bins).astype(int), bins - 1)


def equal_mass_bins(confidence: np.ndarray, bins: int = CALIBRATION_BINS) -> np.ndarray:
    """Bin index per sample: the confidence-sorted samples cut into ``bins`` near-equal parts."""
    order = np.argsort(confidence, kind="stable")
    out = np.empty(len(confidence), dtype=int)
    for b, part in enumerate(np.array_split(order, min(bins, len(confidence)))):
        out[part] = b
    return out


def reliability(
    confidence: np.ndarray, correct: np.ndarray, index: np.ndarray
) -> tuple[np.ndarray, ...]:
    """(bin ids, mean confidence, accuracy, count) of the non-empty bins of ``index``."""
    ids, inverse, count = np.unique(index, return_inverse=True, return_counts=True)
    conf = np.bincount(inverse, weights=confidence) / count
    acc = np.bincount(inverse, weights=correct) / count
    return ids, conf, acc, count


def _gap(confidence, correct, index) -> tuple[float, float]:
    _, conf, acc, count = reliability(confidence, correct, index)
    gap = np.abs(acc - conf)
    return float((gap * count).sum() / count.sum()), float(gap.max())


def calibration_metrics(
    y_true: Sequence[int],
    prob: np.ndarray | Sequence,
    n_classes: int,
    *,
    bins: int = CALIBRATION_BINS,
    threshold: float = 0.5,
) -> dict[str, float]:
    """``{ece, ece_equal_mass, mce, brier, nll}`` of probabilities ``prob`` for labels ``y_true``.

    ``prob`` is (N,) positive probabilities (binary) or (N, C); NaN for an empty input.
    """
    y = np.asarray(y_true).astype(int)
    p = as_probability_matrix(prob, n_classes)
    if len(y) == 0:
        return dict.fromkeys(CALIBRATION_METRICS, float("nan"))
    confidence, correct = top_label(y, p, threshold)
    ece, mce = _gap(confidence, correct, equal_width_bins(confidence, bins))
    ece_mass, _ = _gap(confidence, correct, equal_mass_bins(confidence, bins))
    onehot = np.eye(n_classes)[y]
    return {
        "ece": ece,
        "ece_equal_mass": ece_mass,
        "mce": mce,
        "brier": float(0.5 * ((p - onehot) ** 2).sum(axis=1).mean()),
        "nll": float(-np.log(np.clip(p[np.arange(len(y)), y], _EPS, 1.0)).mean()),
    }


def calibration_settings(bins: int = CALIBRATION_BINS) -> dict:
    """What the calibration metrics of a run mean (recorded in run.json)."""
    return {
        "bins": bins,
        "ece": f"top-label confidence, {bins} equal-width bins [k/B, (k+1)/B)",
        "ece_equal_mass": f"top-label confidence, {bins} equal-count bins",
        "mce": f"largest gap over the non-empty equal-width bins ({bins})",
        "brier": "mean over samples of half the squared error summed over classes",
        "nll": "mean negative log-likelihood of the true class (probabilities clipped at 1e-15)",
    }
