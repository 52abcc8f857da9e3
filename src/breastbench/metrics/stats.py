"""Paired statistical tests for two configurations scored on the same folds or samples.

- :func:`wilcoxon_folds`: Wilcoxon signed-rank test over per-fold scores, exact p. With k
  folds the smallest attainable two-sided p is ``2 / 2**k`` (0.0625 for 5 folds), so the
  function says so plainly instead of letting "not significant" read as "no difference".
- :func:`paired_bootstrap`: percentile CI and p for a metric difference on pooled out-of-fold
  predictions, resampling samples or whole patients.
- :func:`delong_test` (from :mod:`breastbench.metrics.delong`): correlated AUCs.
- :func:`mcnemar_test`: paired accuracy through the discordant pairs.
- :func:`holm`: Holm-Bonferroni step-down adjustment across a table of comparisons.

Every random choice takes a seed, so a comparison table is reproducible.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
from scipy import stats

from breastbench.errors import UserError
from breastbench.metrics.classification import as_probability_matrix, compute_metrics
from breastbench.metrics.delong import delong_test
from breastbench.metrics.fast import fast_metric, weighted_metric

__all__ = [
    "delong_test",
    "holm",
    "mcnemar_test",
    "metric_function",
    "min_wilcoxon_p",
    "paired_bootstrap",
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
            f"p < {alpha:g} whatever the difference: report the exact p with n, and use a paired "
            "bootstrap, DeLong or McNemar test on the pooled out-of-fold predictions, or repeated "
            "cross-validation, for a test that can."
        )
    result["note"] = " ".join(notes)
    return result


def metric_function(name: str, classes: Sequence[str]) -> Callable[[np.ndarray, np.ndarray], float]:
    """A fast ``f(y, prob_matrix) -> float`` for one named metric of :func:`compute_metrics`.

    The bootstrap calls it thousands of times, so every built-in metric has a numpy version
    (:mod:`breastbench.metrics.fast`); other names go through the full metric set and raise a
    clear error when unknown.
    """
    classes = list(classes)
    fast = fast_metric(name, classes)
    if fast is not None:
        return fast

    def full(y: np.ndarray, p: np.ndarray) -> float:
        values = compute_metrics(y, p, classes, warnings_out=[])
        if name not in values:
            raise UserError(
                f"unknown metric {name!r} for a {len(classes)}-class task; choose from "
                f"{sorted(values)}"
            )
        return values[name]

    return full


def _resample_indices(
    rng: np.random.Generator, n: int, groups: np.ndarray | None
) -> Callable[[], np.ndarray]:
    if groups is None:
        return lambda: rng.integers(0, n, n)
    _, inverse = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(inverse.max() + 1)]
    n_groups = len(members)
    return lambda: np.concatenate([members[g] for g in rng.integers(0, n_groups, n_groups)])


def _resample_weights(
    rng: np.random.Generator, n: int, groups: np.ndarray | None, n_boot: int
) -> np.ndarray:
    """(n_boot, n) multiplicities of the resamples :func:`_resample_indices` would draw."""
    if groups is None:
        draws = rng.integers(0, n, (n_boot, n))
        counts = np.zeros((n_boot, n))
        np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1.0)
        return counts
    _, inverse = np.unique(groups, return_inverse=True)
    n_groups = int(inverse.max()) + 1
    draws = rng.integers(0, n_groups, (n_boot, n_groups))
    counts = np.zeros((n_boot, n_groups))
    np.add.at(counts, (np.arange(n_boot)[:, None], draws), 1.0)
    return counts[:, inverse]


def paired_bootstrap(
    y: Sequence[int],
    prob_a: np.ndarray,
    prob_b: np.ndarray,
    metric: str | Callable[[np.ndarray, np.ndarray], float] = "auc",
    n_boot: int = 2000,
    seed: int = 0,
    *,
    classes: Sequence[str] | None = None,
    groups: Sequence | None = None,
    alpha: float = 0.05,
) -> dict:
    """Paired bootstrap of ``metric(a) - metric(b)`` on the same (pooled out-of-fold) samples.

    Both configurations are scored on the same resample each time, so their correlation is
    kept. With ``groups`` (e.g. patient ids) whole groups are resampled, which respects
    within-patient correlation.

    Args:
        y: (N,) true class indices.
        prob_a: (N,) positive probabilities or (N, C) class probabilities of config a.
        prob_b: the same for config b.
        metric: a metric name from :func:`compute_metrics` or ``f(y, prob_matrix) -> float``.
        n_boot: bootstrap resamples.
        seed: seed of the resampling (same seed, same result).
        classes: class names (default: two classes, or C generic names).
        groups: optional (N,) cluster labels to resample instead of samples.
        alpha: the CI has level ``1 - alpha`` (percentile method).

    Returns:
        ``test, n, n_groups, difference`` (on the full data), ``ci_low, ci_high``, ``p`` and
        ``n_valid`` (resamples where the metric was defined). ``p`` is two-sided, from
        inverting the percentile interval: twice the smaller share of resampled differences on
        either side of 0, with a +1 correction so it is never exactly 0.
    """
    y = np.asarray(y).astype(int)
    if classes is None:
        shape = np.shape(prob_a)
        classes = [str(i) for i in range(shape[1] if len(shape) == 2 else 2)]
    classes = list(classes)
    pa = as_probability_matrix(prob_a, len(classes))
    pb = as_probability_matrix(prob_b, len(classes))
    if not (len(y) == len(pa) == len(pb)):
        raise UserError(
            f"paired_bootstrap: y, prob_a, prob_b have {len(y)}, {len(pa)}, {len(pb)} rows; "
            "pass predictions for the same samples"
        )
    if n_boot < 100:
        raise UserError(f"paired_bootstrap: n_boot={n_boot} is too small; use at least 1000")
    fn = metric if callable(metric) else metric_function(metric, classes)
    vec = weighted_metric(metric, classes) if isinstance(metric, str) else None
    g = None if groups is None else np.asarray(groups)
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        observed = fn(y, pa) - fn(y, pb)
        if vec is not None:  # all resamples at once, as multiplicity weights (same draws)
            w = _resample_weights(rng, len(y), g, n_boot)
            diffs = vec(y, pa, w) - vec(y, pb, w)
        else:
            draw = _resample_indices(rng, len(y), g)
            diffs = np.empty(n_boot)
            for i in range(n_boot):
                idx = draw()
                diffs[i] = fn(y[idx], pa[idx]) - fn(y[idx], pb[idx])
    valid = diffs[~np.isnan(diffs)]
    if len(valid) == 0:
        raise UserError("paired_bootstrap: the metric is undefined on every resample")
    lo, hi = np.quantile(valid, [alpha / 2.0, 1.0 - alpha / 2.0])
    below = (1 + np.sum(valid <= 0)) / (len(valid) + 1)
    above = (1 + np.sum(valid >= 0)) / (len(valid) + 1)
    return {
        "test": "paired_bootstrap",
        "metric": metric if isinstance(metric, str) else getattr(metric, "__name__", "custom"),
        "n": int(len(y)),
        "n_groups": int(len(np.unique(g))) if g is not None else int(len(y)),
        "difference": float(observed),
        "ci_low": float(lo),
        "ci_high": float(hi),
        "p": float(min(1.0, 2.0 * min(below, above))),
        "n_boot": int(n_boot),
        "n_valid": int(len(valid)),
        "seed": int(seed),
    }


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
