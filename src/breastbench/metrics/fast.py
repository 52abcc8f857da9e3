"""Single-metric functions in plain numpy, for resampling loops.

A paired bootstrap evaluates a metric thousands of times; scikit-learn's input validation then
dominates the run time. These functions compute the same numbers as
:func:`breastbench.metrics.compute_metrics` (a test checks every metric against it) from a
confusion matrix or from midranks, with the same conventions: zero-division precision/F1 are 0,
undefined recall/specificity/AUC are NaN, absent classes are left out of balanced accuracy and
of the macro AUC.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from breastbench.metrics.classification import BINARY_METRICS, MULTICLASS_METRICS
from breastbench.metrics.delong import midranks

MetricFn = Callable[[np.ndarray, np.ndarray], float]


def rank_auc(y: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney AUC (ties count 1/2); NaN when one class is missing."""
    pos = y == 1
    m, n = int(pos.sum()), int((~pos).sum())
    if m == 0 or n == 0:
        return float("nan")
    return float((midranks(score)[pos].sum() - m * (m + 1) / 2.0) / (m * n))


def _confusion(y: np.ndarray, pred: np.ndarray, c: int) -> np.ndarray:
    return np.bincount(y * c + pred, minlength=c * c).reshape(c, c).astype(float)


def _ratio(num: np.ndarray, den: np.ndarray, empty: float) -> np.ndarray:
    return np.divide(num, den, out=np.full_like(num, empty), where=den > 0)


def _from_confusion(cm: np.ndarray, name: str, classes: Sequence[str]) -> float:
    tp = np.diag(cm)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    recall = _ratio(tp, support, np.nan)
    f1 = _ratio(2 * tp, support + predicted, 0.0)
    if name == "accuracy":
        return float(tp.sum() / cm.sum())
    if name == "balanced_accuracy":
        return float(np.mean(recall[support > 0]))
    if name == "f1_macro":
        return float(f1.mean())
    if name == "f1_weighted":
        return float((f1 * support).sum() / support.sum())
    if name == "kappa_quadratic":
        i, j = np.indices(cm.shape)
        weights = (i - j) ** 2 / (len(cm) - 1) ** 2
        expected = np.outer(support, predicted) / cm.sum()
        denom = (weights * expected).sum()
        return float(1.0 - (weights * cm).sum() / denom) if denom > 0 else float("nan")
    if name.startswith("recall_") and name[len("recall_") :] in classes:
        return float(recall[list(classes).index(name[len("recall_") :])])
    # binary names: class 1 is positive
    names = {
        "precision": _ratio(tp[1:], predicted[1:], 0.0),
        "recall": recall[1:],
        "specificity": recall[:1],
        "f1": f1[1:],
    }
    return float(names[name][0])


# every metric compute_metrics reports has a fast twin here
BINARY_FAST = set(BINARY_METRICS)
MULTICLASS_FAST = set(MULTICLASS_METRICS)


def fast_metric(name: str, classes: Sequence[str], threshold: float = 0.5) -> MetricFn | None:
    """``f(y, prob_matrix) -> float`` for ``name``, or None if there is no fast version."""
    c = len(classes)
    known = BINARY_FAST if c == 2 else MULTICLASS_FAST | {f"recall_{k}" for k in classes}
    if name not in known:
        return None
    if name == "auc":
        return lambda y, p: rank_auc(y, p[:, 1])
    if name == "auc_ovr_macro":

        def ovr(y: np.ndarray, p: np.ndarray) -> float:
            aucs = [rank_auc((y == k).astype(int), p[:, k]) for k in range(c)]
            aucs = [a for a in aucs if not np.isnan(a)]
            return float(np.mean(aucs)) if aucs else float("nan")

        return ovr

    def from_counts(y: np.ndarray, p: np.ndarray) -> float:
        pred = (p[:, 1] >= threshold).astype(int) if c == 2 else p.argmax(axis=1)
        return _from_confusion(_confusion(y, pred, c), name, classes)

    return from_counts


def _weighted_rank_auc(y: np.ndarray, score: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC (ties 1/2) under each row of sample weights ``w`` (B, N)."""
    values, inverse = np.unique(score, return_inverse=True)
    onehot = np.zeros((len(score), len(values)))
    onehot[np.arange(len(score)), inverse] = 1.0
    pos = (y == 1).astype(float)
    w_pos = (w * pos) @ onehot  # (B, U) positive weight at each distinct score
    w_neg = (w * (1.0 - pos)) @ onehot
    below = np.cumsum(w_neg, axis=1) - w_neg
    num = (w_pos * (below + 0.5 * w_neg)).sum(axis=1)
    den = w_pos.sum(axis=1) * w_neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def weighted_metric(
    name: str, classes: Sequence[str], threshold: float = 0.5
) -> Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None:
    """``f(y, prob_matrix, weights (B, N)) -> (B,)`` for accuracy and binary AUC, else None.

    A bootstrap resample is a vector of sample multiplicities, and these two metrics are
    weighted sums, so every resample is scored at once instead of one by one (the same numbers
    as :func:`fast_metric` on the resampled rows, orders of magnitude faster).
    """
    c = len(classes)
    if name == "auc" and c == 2:
        return lambda y, p, w: _weighted_rank_auc(y, p[:, 1], w)
    if name == "accuracy":

        def accuracy(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
            pred = (p[:, 1] >= threshold).astype(int) if c == 2 else p.argmax(axis=1)
            return (w @ (pred == y).astype(float)) / w.sum(axis=1)

        return accuracy
    return None
