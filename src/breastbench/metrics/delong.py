"""DeLong's test for two correlated ROC AUCs on the same samples.

DeLong, DeLong & Clarke-Pearson (1988) estimate the covariance of two AUCs measured on the same
cases from their "structural components": for every positive case the fraction of negatives it
outranks (V10) and for every negative the fraction of positives that outrank it (V01), ties
counting one half. Sun & Xu (2014) showed both components follow from midranks, so the test
costs one sort per score instead of the O(m*n) pairwise comparison:

    V10_i = (Z_i - X_i) / n      for positive i,
    V01_j = 1 - (Z_j - Y_j) / m  for negative j,

with Z the midrank of a case among all cases, X its midrank among the positives, Y among the
negatives, m positives and n negatives. The AUC is the mean of V10, and
``Var(AUC_a - AUC_b) = (S10_aa + S10_bb - 2 S10_ab) / m + (S01_aa + S01_bb - 2 S01_ab) / n``
with S10, S01 the sample covariance matrices of the components across the two scores.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from breastbench.errors import UserError


def midranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x`` where tied values share the mean of their ranks."""
    x = np.asarray(x, dtype=float)
    values, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    # a block of `count` tied values occupies ranks start+1 .. start+count; its midrank is
    # start + (count + 1) / 2, with start the number of strictly smaller values.
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    block_rank = starts + (counts + 1) / 2.0
    return block_rank[inverse.ravel()]


def structural_components(y: np.ndarray, score: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AUC, V10 (one per positive) and V01 (one per negative) via midranks (Sun & Xu 2014)."""
    pos, neg = score[y == 1], score[y == 0]
    m, n = len(pos), len(neg)
    z = midranks(np.concatenate([pos, neg]))
    v10 = (z[:m] - midranks(pos)) / n
    v01 = 1.0 - (z[m:] - midranks(neg)) / m
    return float(v10.mean()), v10, v01


def delong_test(
    y: np.ndarray, score_a: np.ndarray, score_b: np.ndarray, *, alpha: float = 0.05
) -> dict[str, float]:
    """Two-sided DeLong test of AUC(a) = AUC(b) for two scores on the same binary cases.

    Args:
        y: (N,) 0/1 labels (1 = positive class).
        score_a: (N,) scores of classifier a, higher meaning more likely positive.
        score_b: (N,) scores of classifier b on the same cases.
        alpha: the confidence interval has level ``1 - alpha``.

    Returns:
        ``auc_a, auc_b, diff`` (a - b), ``se`` of the difference, ``z``, ``p``, and
        ``ci_low``/``ci_high`` of the difference (normal approximation), plus ``n_pos`` and
        ``n_neg``. When both scores order every pair identically the variance is 0: then
        ``z`` is NaN and ``p`` is 1 if the AUCs are equal, NaN otherwise (the normal
        approximation says nothing; use a paired bootstrap).
    """
    y = np.asarray(y).astype(int)
    a, b = np.asarray(score_a, dtype=float), np.asarray(score_b, dtype=float)
    if not (len(y) == len(a) == len(b)):
        raise UserError(
            f"delong_test: y, score_a, score_b have lengths {len(y)}, {len(a)}, {len(b)}; "
            "pass scores for the same samples"
        )
    if not set(np.unique(y)) <= {0, 1}:
        raise UserError("delong_test: y must be binary 0/1; DeLong compares binary AUCs")
    m, n = int((y == 1).sum()), int((y == 0).sum())
    if m < 2 or n < 2:
        raise UserError(
            f"delong_test: needs at least two positives and two negatives, got {m} and {n}"
        )
    auc_a, v10_a, v01_a = structural_components(y, a)
    auc_b, v10_b, v01_b = structural_components(y, b)
    s10 = np.cov(np.vstack([v10_a, v10_b]))  # ddof=1, as in DeLong et al. (1988)
    s01 = np.cov(np.vstack([v01_a, v01_b]))
    contrast = np.array([1.0, -1.0])
    var = float(contrast @ s10 @ contrast / m + contrast @ s01 @ contrast / n)
    diff = auc_a - auc_b
    se = float(np.sqrt(max(var, 0.0)))
    if se > 0:
        z = diff / se
        p = float(2.0 * stats.norm.sf(abs(z)))
    else:
        z, p = float("nan"), 1.0 if diff == 0 else float("nan")
    half = stats.norm.ppf(1.0 - alpha / 2.0) * se
    return {
        "auc_a": auc_a,
        "auc_b": auc_b,
        "diff": diff,
        "se": se,
        "z": float(z),
        "p": p,
        "ci_low": diff - half,
        "ci_high": diff + half,
        "n_pos": m,
        "n_neg": n,
    }
