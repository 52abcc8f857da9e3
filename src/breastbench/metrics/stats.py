"""Paired statistical tests for two configurations scored on the same folds or samples.

- :func:`wilcoxon_folds`: Wilcoxon signed-rank test over per-fold scores, exact p. With k
  folds the smallest attainable two-sided p is ``2 / 2**k`` (0.0625 for 5 folds), so the
  function says so plainly instead of letting "not significant" read as "no difference".
- :func:`paired_bootstrap`: percentile CI and p for a metric difference on pooled out-of-fold
  predictions, resampling samples or whole patients.
- :func:`delong_test` (from :mod:`breastbench.metrics.delong`): correlated AUCs.
- :func:`mcnemar_test`: paired accuracy through the discordant pairs.
- :func:`fold_aware_bootstrap`: the mean over folds (or seeds) of the within-fold difference,
  resampling patients within each fold: the test the analysis uses, since it never pools the
  scores of different fitted models.
- :func:`holm`, :func:`bonferroni`: adjustments across a table of comparisons (undefined
  p-values do not count).
- :func:`replicate_interval`: a t interval over independent replicates, on the logit scale for
  bounded metrics so it stays in range.

Every random choice takes a seed, so a comparison table is reproducible. The bootstrap tests
live in :mod:`breastbench.metrics.bootstrap` and the intervals in
:mod:`breastbench.metrics.intervals`; this module is the one namespace the analysis, the
report and the tests import them from.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

from breastbench.errors import UserError
from breastbench.metrics.bootstrap import (
    boot_size_for_family,
    fold_aware_bootstrap,
    paired_bootstrap,
)
from breastbench.metrics.delong import delong_test
from breastbench.metrics.functions import metric_function
from breastbench.metrics.intervals import metric_bounds, replicate_interval

__all__ = [
    "bonferroni",
    "boot_size_for_family",
    "delong_test",
    "fold_aware_bootstrap",
    "holm",
    "mcnemar_test",
    "metric_bounds",
    "metric_function",
    "min_wilcoxon_p",
    "paired_bootstrap",
    "replicate_interval",
    "wilcoxon_folds",
]

# Paired differences are rounded before ranking so that 0.91 - 0.90 and 0.92 - 0.91 tie, as
# they do on paper, instead of differing in the 17th digit.
_DIFF_DECIMALS = 12
# Beyond this many non-zero tied differences an exact enumeration (2**n sign flips) is too big.
_MAX_EXACT_PERMUTATION_N = 20


def min_wilcoxon_p(n: int, alternative: str = "two-sided") -> float:
    """Smallest p-value the exact signed-rank test can give with ``n`` non-zero differences.

    It is reached when all differences share one sign: probability ``1 / 2**n`` under the null,
    doubled for a two-sided test. Ties do not change it (the all-same-sign arrangement stays the
    unique extreme).
    """
    if n <= 0:
        return 1.0
    one_sided = 0.5**n
    return min(1.0, 2 * one_sided) if alternative == "two-sided" else one_sided


def wilcoxon_folds(
    a: Sequence[float], b: Sequence[float], *, alternative: str = "two-sided", alpha: float = 0.05
) -> dict:
    """Wilcoxon signed-rank test of paired per-fold scores ``a`` vs ``b``, exact p.

    Zero differences are dropped (Wilcoxon's original convention) and reported. Without ties
    scipy's exact null distribution is used (``method="exact"``); with tied absolute differences
    the exact permutation distribution of the midrank statistic (all ``2**n`` sign flips) is
    used instead, which is the honest exact test with ties.

    Returns:
        ``test, n`` (pairs), ``n_nonzero``, ``statistic`` (scipy's: the smaller of the positive
        and negative rank sums for two-sided), ``p``, ``method``, ``effect`` (median of a - b),
        ``mean_diff``, ``min_p`` (smallest attainable p at this n) and ``note`` (plain-language
        caveats, empty when there are none).
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise UserError(
            f"wilcoxon_folds: a and b must be 1-D with one score per fold each, got shapes "
            f"{x.shape} and {y.shape}"
        )
    if np.isnan(x).any() or np.isnan(y).any():
        raise UserError("wilcoxon_folds: a fold score is NaN; drop that fold from both configs")
    d = np.round(x - y, _DIFF_DECIMALS)
    nonzero = d[d != 0]
    k = len(nonzero)
    notes = []
    if len(d) - k:
        notes.append(f"{len(d) - k} of {len(d)} paired differences are zero and were dropped.")
    min_p = min_wilcoxon_p(k, alternative)
    result = {
        "test": "wilcoxon",
        "n": int(len(d)),
        "n_nonzero": int(k),
        "effect": float(np.median(d)) if len(d) else float("nan"),
        "mean_diff": float(np.mean(d)) if len(d) else float("nan"),
        "min_p": min_p,
    }
    if k == 0:
        notes.append("All paired differences are zero: no evidence of any difference (p = 1).")
        result.update(statistic=float("nan"), p=1.0, method="none")
    else:
        ties = len(np.unique(np.abs(nonzero))) < k
        if not ties:
            method = "exact"
        elif k <= _MAX_EXACT_PERMUTATION_N:
            method = stats.PermutationMethod(n_resamples=2**k)  # >= 2**k => exact enumeration
        else:
            method = "approx"
        res = stats.wilcoxon(nonzero, alternative=alternative, method=method)
        name = method if isinstance(method, str) else "exact-permutation (ties)"
        result.update(statistic=float(res.statistic), p=float(res.pvalue), method=name)
        if name == "approx":
            notes.append("Tied differences with n > 20: normal approximation p.")
    if min_p >= alpha:
        formula = f"2/2^{k}" if alternative == "two-sided" else f"1/2^{k}"
        notes.append(
            f"With n = {k} non-zero paired differences the smallest {alternative} exact p-value "
            f"is {min_p:.4g} ({formula}), so this test can never reach "
            f"p < {alpha:g} whatever the difference: report the exact p with n, and use the "
            "fold-aware patient bootstrap (within-fold differences, patients resampled within "
            "folds) or repeated cross-validation for a test that can."
        )
    result["note"] = " ".join(notes)
    return result


def mcnemar_test(
    y: Sequence[int],
    pred_a: Sequence[int],
    pred_b: Sequence[int],
    *,
    exact: bool | str = "auto",
    correction: bool = True,
) -> dict:
    """McNemar's test of equal accuracy for two classifiers on the same samples.

    Only discordant samples carry information: ``b`` = a right and b wrong, ``c`` = a wrong and
    b right. Under the null b ~ Binomial(b + c, 1/2).

    Args:
        y: (N,) true class indices.
        pred_a: (N,) predicted class indices of classifier a.
        pred_b: (N,) predicted class indices of classifier b.
        exact: ``True`` for the exact binomial test, ``False`` for chi-square, ``"auto"``
            (default) for exact when ``b + c < 25`` (the usual rule of thumb).
        correction: Edwards' continuity correction for the chi-square version.

    Returns:
        ``test, n, b, c, statistic`` (chi-square, or ``b`` for the exact test), ``p``,
        ``method``, ``effect`` (accuracy(a) - accuracy(b) = (b - c) / n).
    """
    y, pa, pb = (np.asarray(v).astype(int) for v in (y, pred_a, pred_b))
    if not (len(y) == len(pa) == len(pb)):
        raise UserError(
            f"mcnemar_test: y, pred_a, pred_b have lengths {len(y)}, {len(pa)}, {len(pb)}"
        )
    ok_a, ok_b = pa == y, pb == y
    b = int(np.sum(ok_a & ~ok_b))
    c = int(np.sum(~ok_a & ok_b))
    use_exact = (b + c < 25) if exact == "auto" else bool(exact)
    if b + c == 0:
        stat, p, method = 0.0, 1.0, "no discordant pairs"
    elif use_exact:
        stat, method = float(b), "exact binomial"
        p = float(stats.binomtest(b, b + c, 0.5).pvalue)
    else:
        num = max(abs(b - c) - 1, 0) if correction else abs(b - c)
        stat = num**2 / (b + c)
        p = float(stats.chi2.sf(stat, df=1))
        method = "chi-square" + (" (continuity corrected)" if correction else "")
    return {
        "test": "mcnemar",
        "n": int(len(y)),
        "b": b,
        "c": c,
        "statistic": float(stat),
        "p": p,
        "method": method,
        "effect": (b - c) / len(y) if len(y) else float("nan"),
    }


def holm(pvalues: Sequence[float]) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values, in the input order.

    Sort ascending; the i-th smallest (1-based) becomes ``(m - i + 1) * p``, made monotone by a
    running maximum and capped at 1. NaN p-values stay NaN and do not count in ``m``.
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if len(ok) == 0:
        return out
    if (p[ok] < 0).any() or (p[ok] > 1).any():
        raise UserError("holm: p-values must lie in [0, 1]")
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out


def bonferroni(pvalues: Sequence[float]) -> np.ndarray:
    """Bonferroni adjusted p-values: ``min(1, m * p)`` with ``m`` the number of defined p-values.

    NaN p-values (a test that could not run) stay NaN and do not count in ``m``, as in
    :func:`holm`.
    """
    p = np.asarray(pvalues, dtype=float)
    m = int(np.sum(~np.isnan(p)))
    return np.minimum(p * m, 1.0)
