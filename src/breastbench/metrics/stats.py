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
    from breastbench.metrics.calibration import CALIBRATION_METRICS, calibration_metrics

    if name in CALIBRATION_METRICS:
        return lambda y, p: calibration_metrics(y, p, len(classes))[name]

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


def bonferroni(pvalues: Sequence[float]) -> np.ndarray:
    """Bonferroni adjusted p-values: ``min(1, m * p)`` with ``m`` the number of defined p-values.

    NaN p-values (a test that could not run) stay NaN and do not count in ``m``, as in
    :func:`holm`.
    """
    p = np.asarray(pvalues, dtype=float)
    m = int(np.sum(~np.isnan(p)))
    return np.minimum(p * m, 1.0)


def _class_stratified_weights(
    rng: np.random.Generator, y: np.ndarray, groups: np.ndarray, n_boot: int
) -> np.ndarray:
    """(n_boot, N) multiplicities: groups resampled with replacement within their class.

    A group's class is the class of most of its rows (ties: the lowest). Keeping the number of
    groups per class fixed means no resample loses a class, so AUC stays defined (the
    stratified bootstrap of pROC and of DeLong's paper).
    """
    _, inverse = np.unique(groups, return_inverse=True)
    n_groups = int(inverse.max()) + 1
    counts = np.zeros((n_groups, int(y.max()) + 1))
    np.add.at(counts, (inverse, y), 1.0)
    group_class = counts.argmax(axis=1)
    out = np.zeros((n_boot, n_groups))
    rows = np.arange(n_boot)[:, None]
    for c in np.unique(group_class):
        members = np.flatnonzero(group_class == c)
        draws = members[rng.integers(0, len(members), (n_boot, len(members)))]
        np.add.at(out, (rows, draws), 1.0)
    return out[:, inverse]


def _resampled_values(fn, vec, y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The metric under each row of multiplicities ``w`` (vectorised when possible)."""
    if vec is not None:
        return vec(y, p, w)
    out = np.empty(len(w))
    base = np.arange(len(y))
    for i, row in enumerate(w):
        idx = np.repeat(base, row.astype(int))
        out[i] = fn(y[idx], p[idx])
    return out


def fold_aware_bootstrap(
    units: Sequence[dict],
    metric: str,
    classes: Sequence[str],
    n_boot: int = 2000,
    seed: int = 0,
    *,
    alpha: float = 0.05,
) -> dict:
    """Mean within-unit difference ``metric(a) - metric(b)`` with a bootstrap stratified by unit.

    A *unit* is one fitted model pair scored on one test set: a cross-validation fold, or a
    training seed of an external validation. Each unit is a dict with ``stratum`` (units with
    the same stratum share one test set and are resampled together, e.g. the seeds of an
    external validation), ``y`` (N,), ``groups`` (N,) resampling clusters (patient ids; pass
    ``np.arange(N)`` for images), ``probs_a`` and ``probs_b`` (lists of (N, C) probability
    matrices: the replicates inside the unit, e.g. support draws, whose metric is averaged
    before the difference is taken).

    The metric is only ever computed on the scores of one fitted model, so models of different
    folds, calibrated differently, are never pooled: a strictly monotone transform of one
    unit's scores leaves every AUC-based number unchanged. Each resample draws the groups of
    every stratum with replacement within their class, recomputes each unit's difference and
    averages over units.

    Returns:
        ``difference`` (the estimate), ``ci_low, ci_high`` (percentile, level ``1 - alpha``),
        ``p`` (two-sided, from the share of resampled differences on either side of 0 with a +1
        correction, so its floor is ``2 / (n_boot + 1)``), ``unit_differences``, ``value_a``,
        ``value_b`` (means over units), ``n_units``, ``n_groups`` (clusters over all strata),
        ``n_images``, ``n_boot``, ``n_valid``, ``min_p``.
    """
    if n_boot < 100:
        raise UserError(f"fold_aware_bootstrap: n_boot={n_boot} is too small; use at least 1000")
    classes = list(classes)
    fn = metric_function(metric, classes)
    vec = weighted_metric(metric, classes)
    rng = np.random.default_rng(seed)
    weights: dict = {}
    n_groups = n_images = 0
    obs_a, obs_b, boot_a, boot_b = [], [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for u in units:
            y = np.asarray(u["y"]).astype(int)
            if u["stratum"] not in weights:
                groups = np.asarray(u["groups"])
                weights[u["stratum"]] = _class_stratified_weights(rng, y, groups, n_boot)
                n_groups += len(np.unique(groups))
                n_images += len(y)
            w = weights[u["stratum"]]
            if w.shape[1] != len(y):
                raise UserError(
                    f"fold_aware_bootstrap: units of stratum {u['stratum']!r} have different "
                    "test sets; pass the same images in the same order"
                )
            pa = [as_probability_matrix(p, len(classes)) for p in u["probs_a"]]
            pb = [as_probability_matrix(p, len(classes)) for p in u["probs_b"]]
            obs_a.append(np.mean([fn(y, p) for p in pa]))
            obs_b.append(np.mean([fn(y, p) for p in pb]))
            boot_a.append(np.mean([_resampled_values(fn, vec, y, p, w) for p in pa], axis=0))
            boot_b.append(np.mean([_resampled_values(fn, vec, y, p, w) for p in pb], axis=0))
    obs = np.asarray(obs_a) - np.asarray(obs_b)
    keep = ~np.isnan(obs)
    if not keep.any():
        raise UserError(f"fold_aware_bootstrap: {metric} is undefined in every unit")
    diffs = (np.asarray(boot_a)[keep] - np.asarray(boot_b)[keep]).mean(axis=0)
    valid = diffs[~np.isnan(diffs)]
    if len(valid) == 0:
        raise UserError("fold_aware_bootstrap: the metric is undefined on every resample")
    lo, hi = np.quantile(valid, [alpha / 2.0, 1.0 - alpha / 2.0])
    below = (1 + np.sum(valid <= 0)) / (len(valid) + 1)
    above = (1 + np.sum(valid >= 0)) / (len(valid) + 1)
    return {
        "test": "fold_aware_bootstrap",
        "metric": metric,
        "difference": float(obs[keep].mean()),
        "ci_low": float(lo),
        "ci_high": float(hi),
        "p": float(min(1.0, 2.0 * min(below, above))),
        "unit_differences": [float(d) for d in obs],
        "value_a": float(np.asarray(obs_a)[keep].mean()),
        "value_b": float(np.asarray(obs_b)[keep].mean()),
        "n_units": int(keep.sum()),
        "n_groups": int(n_groups),
        "n_images": int(n_images),
        "n_boot": int(n_boot),
        "n_valid": int(len(valid)),
        "min_p": float(min(1.0, 2.0 / (n_boot + 1))),
        "seed": int(seed),
    }


def boot_size_for_family(m: int, alpha: float = 0.05, n_boot: int = 1000) -> int:
    """Resamples so that ``m`` tests corrected by Holm or Bonferroni can still reach ``alpha``.

    A bootstrap p-value (as :func:`fold_aware_bootstrap` computes it) is at least
    ``2 / (B + 1)``; after correction over ``m`` tests the smallest is ``2 m / (B + 1)``. The
    result is ``n_boot`` or the smallest ``B`` that puts that floor at ``alpha / 2``, whichever
    is larger.
    """
    needed = int(np.ceil(4.0 * max(m, 1) / alpha)) - 1
    return max(int(n_boot), needed)


# Metrics whose values lie in a known closed range; their intervals are computed on the logit
# scale of that range so they never leave it.
_UNIT_RANGE = (0.0, 1.0)
_PLUS_MINUS_ONE = (-1.0, 1.0)


def metric_bounds(name: str) -> tuple[float, float] | None:
    """The closed range of a metric of :func:`compute_metrics` (or calibration), else None."""
    if name.startswith("kappa"):
        return _PLUS_MINUS_ONE
    if name in ("nll",) or name.startswith("nll"):
        return None
    unit = (
        "accuracy",
        "balanced_accuracy",
        "precision",
        "recall",
        "specificity",
        "f1",
        "auc",
        "ece",
        "mce",
        "brier",
    )
    if any(name == u or name.startswith(f"{u}_") for u in unit):
        return _UNIT_RANGE
    return None


# Values are clipped this far inside a bounded range before the logit (a metric of exactly 0 or
# 1 has an infinite logit); a relative margin of the range.
LOGIT_CLIP = 1e-3


def replicate_interval(
    values: Sequence[float], bounds: tuple[float, float] | None = None, level: float = 0.95
) -> tuple[float, float, str]:
    """(low, high, method) of a ``level`` interval for the mean over independent replicates.

    Unbounded metrics: the t interval of the mean. Bounded metrics (``bounds = (lo, hi)``): the
    t interval computed on the logit scale of the range (values clipped ``LOGIT_CLIP`` of the
    range inside it) and mapped back, so it always lies within the range; when every value is
    equal the interval is that value. Fewer than two values: no interval (NaN, method "").
    """
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    n = len(x)
    if n < 2:
        return float("nan"), float("nan"), ""
    q = stats.t.ppf(0.5 + level / 2.0, n - 1)
    if bounds is None:
        half = q * x.std(ddof=1) / np.sqrt(n)
        return float(x.mean() - half), float(x.mean() + half), "t"
    lo, hi = bounds
    if np.all(x == x[0]):
        return float(x[0]), float(x[0]), "logit t (all replicates equal)"
    u = np.clip((x - lo) / (hi - lo), LOGIT_CLIP, 1.0 - LOGIT_CLIP)
    z = np.log(u / (1.0 - u))
    half = q * z.std(ddof=1) / np.sqrt(n)
    ends = 1.0 / (1.0 + np.exp(-(z.mean() + np.array([-half, half]))))
    out = lo + (hi - lo) * ends
    return float(out[0]), float(out[1]), "logit t"
