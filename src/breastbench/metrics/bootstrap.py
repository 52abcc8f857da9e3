"""Bootstrap tests of a metric difference between two configurations on the same images.

- :func:`paired_bootstrap`: percentile CI and p for a metric difference on pooled out-of-fold
  predictions, resampling samples or whole patients.
- :func:`fold_aware_bootstrap`: the mean over folds (or seeds) of the within-fold difference,
  resampling patients within each fold and class: the test the analysis uses, since it never
  pools the scores of different fitted models.
- :func:`fold_aware_interval`: one configuration's metric (mean over folds) with a percentile
  interval from the same patient resampling (subgroup intervals).
- :func:`boot_size_for_family`: resamples enough for a corrected family to reach alpha.

Every random choice takes a seed, so a comparison table is reproducible.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np

from breastbench.errors import UserError
from breastbench.metrics.classification import as_probability_matrix
from breastbench.metrics.fast import weighted_metric
from breastbench.metrics.functions import metric_function


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


def _paired_inputs(y, prob_a, prob_b, classes, n_boot: int):
    """Checked ``y``, class names and (N, C) probability matrices of a paired bootstrap."""
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
    return y, classes, pa, pb


def _percentile_p(
    diffs: np.ndarray, alpha: float, who: str
) -> tuple[np.ndarray, float, float, float]:
    """Defined resampled differences, their percentile interval and the two-sided p.

    p is twice the smaller share of differences on either side of 0, with a +1 correction so it
    is never exactly 0.
    """
    valid = diffs[~np.isnan(diffs)]
    if len(valid) == 0:
        raise UserError(f"{who}: the metric is undefined on every resample")
    lo, hi = np.quantile(valid, [alpha / 2.0, 1.0 - alpha / 2.0])
    below = (1 + np.sum(valid <= 0)) / (len(valid) + 1)
    above = (1 + np.sum(valid >= 0)) / (len(valid) + 1)
    return valid, lo, hi, float(min(1.0, 2.0 * min(below, above)))


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
    y, classes, pa, pb = _paired_inputs(y, prob_a, prob_b, classes, n_boot)
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
    valid, lo, hi, p = _percentile_p(diffs, alpha, "paired_bootstrap")
    return {
        "test": "paired_bootstrap",
        "metric": metric if isinstance(metric, str) else getattr(metric, "__name__", "custom"),
        "n": int(len(y)),
        "n_groups": int(len(np.unique(g))) if g is not None else int(len(y)),
        "difference": float(observed),
        "ci_low": float(lo),
        "ci_high": float(hi),
        "p": p,
        "n_boot": int(n_boot),
        "n_valid": int(len(valid)),
        "seed": int(seed),
    }


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


class _UnitScorer:
    """A unit's metric, observed and under every resample, for the fold-aware tests.

    Units of one stratum share one set of resampling weights, drawn when the stratum is first
    met (so the draws follow the order of the units); ``n_groups`` and ``n_images`` count the
    clusters and images of the design over all strata.
    """

    def __init__(self, test: str, metric: str, classes: Sequence[str], n_boot: int, seed: int):
        if n_boot < 100:
            raise UserError(f"{test}: n_boot={n_boot} is too small; use at least 1000")
        self.test = test
        self.classes = list(classes)
        self.fn = metric_function(metric, self.classes)
        self.vec = weighted_metric(metric, self.classes)
        self.rng = np.random.default_rng(seed)
        self.n_boot = n_boot
        self.weights: dict = {}
        self.n_groups = self.n_images = 0

    def labels_and_weights(self, u: dict) -> tuple[np.ndarray, np.ndarray]:
        """Unit ``u``'s labels and its stratum's (n_boot, N) resampling weights."""
        y = np.asarray(u["y"]).astype(int)
        if u["stratum"] not in self.weights:
            groups = np.asarray(u["groups"])
            self.weights[u["stratum"]] = _class_stratified_weights(self.rng, y, groups, self.n_boot)
            self.n_groups += len(np.unique(groups))
            self.n_images += len(y)
        w = self.weights[u["stratum"]]
        if w.shape[1] != len(y):
            raise UserError(
                f"{self.test}: units of stratum {u['stratum']!r} have different "
                "test sets; pass the same images in the same order"
            )
        return y, w

    def score(self, y: np.ndarray, w: np.ndarray, replicates) -> tuple[float, np.ndarray]:
        """The metric averaged over a unit's replicates, observed and under each resample.

        A metric undefined on the observed data (e.g. one class) has no resample either: NaN.
        """
        probs = [as_probability_matrix(p, len(self.classes)) for p in replicates]
        value = float(np.mean([self.fn(y, p) for p in probs]))
        if np.isnan(value):
            return value, np.full(self.n_boot, np.nan)
        resampled = [_resampled_values(self.fn, self.vec, y, p, w) for p in probs]
        return value, np.mean(resampled, axis=0)

    def sizes(self) -> dict:
        """The design's size: clusters and images over all strata, and resamples."""
        return {
            "n_groups": int(self.n_groups),
            "n_images": int(self.n_images),
            "n_boot": int(self.n_boot),
        }


def _unit_values(units, scorer: _UnitScorer):
    """Observed and resampled metric of each unit's a and b (replicates averaged)."""
    obs_a, obs_b, boot_a, boot_b = [], [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for u in units:
            y, w = scorer.labels_and_weights(u)
            for obs, boot, side in ((obs_a, boot_a, "probs_a"), (obs_b, boot_b, "probs_b")):
                value, resampled = scorer.score(y, w, u[side])
                obs.append(value)
                boot.append(resampled)
    return obs_a, obs_b, boot_a, boot_b


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
    scorer = _UnitScorer("fold_aware_bootstrap", metric, classes, n_boot, seed)
    obs_a, obs_b, boot_a, boot_b = _unit_values(units, scorer)
    obs = np.asarray(obs_a) - np.asarray(obs_b)
    keep = ~np.isnan(obs)
    if not keep.any():
        raise UserError(f"fold_aware_bootstrap: {metric} is undefined in every unit")
    diffs = (np.asarray(boot_a)[keep] - np.asarray(boot_b)[keep]).mean(axis=0)
    valid, lo, hi, p = _percentile_p(diffs, alpha, "fold_aware_bootstrap")
    return {
        "test": "fold_aware_bootstrap",
        "metric": metric,
        "difference": float(obs[keep].mean()),
        "ci_low": float(lo),
        "ci_high": float(hi),
        "p": p,
        "unit_differences": [float(d) for d in obs],
        "value_a": float(np.asarray(obs_a)[keep].mean()),
        "value_b": float(np.asarray(obs_b)[keep].mean()),
        "n_units": int(keep.sum()),
        **scorer.sizes(),
        "n_valid": int(len(valid)),
        "min_p": float(min(1.0, 2.0 / (n_boot + 1))),
        "seed": int(seed),
    }


def fold_aware_interval(
    units: Sequence[dict],
    metric: str,
    classes: Sequence[str],
    n_boot: int = 1000,
    seed: int = 0,
    *,
    alpha: float = 0.05,
) -> dict:
    """One configuration's metric, the mean over units, with a patient-clustered interval.

    ``units`` are as for :func:`fold_aware_bootstrap` with one list ``probs`` (the replicates of
    the unit, e.g. support draws, averaged) instead of ``probs_a``/``probs_b``. Each resample
    draws the groups (patients) of every stratum with replacement within their class, rescores
    every unit and averages over the units whose metric is defined on the observed data; the
    interval is the percentile interval of that mean, so a metric bounded to a range never has
    an interval outside it. The metric of a unit is only ever computed on one model's scores.

    Returns:
        ``value`` (mean over defined units, NaN when none is), ``ci_low, ci_high`` (NaN when
        undefined), ``unit_values``, ``n_units`` (defined units), ``n_groups``, ``n_images``,
        ``n_boot``, ``n_valid``, ``seed``.
    """
    scorer = _UnitScorer("fold_aware_interval", metric, classes, n_boot, seed)
    observed, resampled = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for u in units:
            value, boot = scorer.score(*scorer.labels_and_weights(u), u["probs"])
            observed.append(value)
            resampled.append(boot)
    obs = np.asarray(observed, float)
    keep = ~np.isnan(obs)
    out = {
        "value": float(obs[keep].mean()) if keep.any() else float("nan"),
        "ci_low": float("nan"),
        "ci_high": float("nan"),
        "unit_values": [float(v) for v in obs],
        "n_units": int(keep.sum()),
        **scorer.sizes(),
        "n_valid": 0,
        "seed": int(seed),
    }
    if keep.any():
        means = np.asarray(resampled)[keep].mean(axis=0)
        valid = means[~np.isnan(means)]
        if len(valid):
            lo, hi = np.quantile(valid, [alpha / 2.0, 1.0 - alpha / 2.0])
            out.update(ci_low=float(lo), ci_high=float(hi), n_valid=int(len(valid)))
    return out


def boot_size_for_family(m: int, alpha: float = 0.05, n_boot: int = 1000) -> int:
    """Resamples so that ``m`` tests corrected by Holm or Bonferroni can still reach ``alpha``.

    A bootstrap p-value (as :func:`fold_aware_bootstrap` computes it) is at least
    ``2 / (B + 1)``; after correction over ``m`` tests the smallest is ``2 m / (B + 1)``. The
    result is ``n_boot`` or the smallest ``B`` that puts that floor at ``alpha / 2``, whichever
    is larger.
    """
    needed = int(np.ceil(4.0 * max(m, 1) / alpha)) - 1
    return max(int(n_boot), needed)
