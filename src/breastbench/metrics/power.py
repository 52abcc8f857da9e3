"""Power of the fold-aware bootstrap: minimum detectable difference and patients needed.

The design is the analysis' own (:func:`breastbench.metrics.bootstrap.fold_aware_bootstrap`):
the estimate is the mean over independent test sets (folds, or the shared test set of seeds)
of the within-set difference ``metric(a) - metric(b)``, and its noise comes from which
patients a study happens to test. A study of ``M`` patients is simulated by drawing
``M``-patient test sets from the run's own predictions: every stratum (fold) gets its share of
``M`` in proportion to its size, drawn with replacement within each class (the class mix is
kept, as in the analysis' resampling), and each unit's difference is recomputed on it
(replicates such as support draws averaged within their unit first).

A true difference ``delta`` is injected by shifting each simulated study's centred estimate by
``delta`` (the sampling distribution of the estimate is taken not to change with ``delta``, the
usual assumption of a power calculation). The simulated study's test rejects when its estimate
lies more than ``z(1 - alpha/2)`` resampling standard errors from 0: the normal form of the
bootstrap's percentile test at that size, so its p-value has no resampling floor. Power is the
share of simulated studies that reject:

- :func:`minimum_detectable_difference`: the smallest ``delta`` detected with the requested
  power at a size;
- :func:`patients_needed`: the smallest number of patients whose studies detect a given
  ``delta`` with that power (searched over simulated sizes, each with its own draws).

Every draw comes from ``numpy.random.default_rng([seed, size])``, so a result depends only on
the seed and the size, never on the order of a search.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy.stats import norm

from breastbench.errors import UserError
from breastbench.metrics.bootstrap import _resampled_values
from breastbench.metrics.classification import as_probability_matrix
from breastbench.metrics.fast import weighted_metric
from breastbench.metrics.functions import metric_function


def _group_classes(y: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(inverse index of each row's group, class of each group: the class of most of its rows)."""
    _, inverse = np.unique(groups, return_inverse=True)
    counts = np.zeros((int(inverse.max()) + 1, int(y.max()) + 1))
    np.add.at(counts, (inverse, y), 1.0)
    return inverse, counts.argmax(axis=1)


def _sized_weights(
    rng: np.random.Generator, y: np.ndarray, groups: np.ndarray, size: int, draws: int
) -> np.ndarray:
    """(draws, N) multiplicities of ``size`` groups drawn with replacement within their class.

    Each class gets ``size`` times its share of the groups (at least one group), so the class
    mix of the test set is kept; ``size`` equal to the number of groups is the analysis' own
    class-stratified resample.
    """
    inverse, group_class = _group_classes(y, groups)
    n_groups = len(group_class)
    out = np.zeros((draws, n_groups))
    for c in np.unique(group_class):
        members = np.flatnonzero(group_class == c)
        k = max(1, int(round(size * len(members) / n_groups)))
        # k draws with replacement = multinomial counts: memory per member, not per draw
        even = np.full(len(members), 1.0 / len(members))
        out[:, members] = rng.multinomial(k, even, size=draws)
    return out[:, inverse]


def weighted_auc(y: np.ndarray, score: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mann-Whitney AUC (ties 1/2) under each row of sample weights ``w`` (B, N), in O(B N).

    The same number as :func:`breastbench.metrics.fast.rank_auc` on the resampled rows; the
    scores are sorted once and each distinct score's weights summed with ``np.add.reduceat``,
    so a fold of thousands of images costs no (N, N) matrix.
    """
    order = np.argsort(score, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(score[order]) != 0])
    pos = (y[order] == 1).astype(float)
    ws = w[:, order]
    w_pos = np.add.reduceat(ws * pos, starts, axis=1)
    w_neg = np.add.reduceat(ws * (1.0 - pos), starts, axis=1)
    below = np.cumsum(w_neg, axis=1) - w_neg
    num = (w_pos * (below + 0.5 * w_neg)).sum(axis=1)
    den = w_pos.sum(axis=1) * w_neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def weighted_scorer(name: str, classes: Sequence[str]):
    """``f(y, prob_matrix, weights (B, N)) -> (B,)`` for ``name``, or None (then one by one).

    Binary AUC and the one-vs-rest macro AUC (mean of the defined per-class AUCs) through
    :func:`weighted_auc`, quadratic kappa from each draw's weighted confusion matrix, accuracy
    as :func:`breastbench.metrics.fast.weighted_metric` scores it. The same numbers as
    :mod:`breastbench.metrics.fast` on the resampled rows (a test checks).
    """
    c = len(classes)
    if name == "auc" and c == 2:
        return lambda y, p, w: weighted_auc(y, p[:, 1], w)
    base = weighted_metric(name, classes)
    if base is not None:
        return base
    if name == "auc_ovr_macro":

        def ovr(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
            aucs = np.stack([weighted_auc((y == k).astype(int), p[:, k], w) for k in range(c)])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return np.nanmean(aucs, axis=0)

        return ovr
    if name == "kappa_quadratic":
        i, j = np.indices((c, c))
        penalty = ((i - j) ** 2 / (c - 1) ** 2).ravel()

        def kappa(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
            cell = y * c + p.argmax(axis=1)
            cm = np.zeros((len(y), c * c))
            cm[np.arange(len(y)), cell] = 1.0
            cm = (w @ cm).reshape(len(w), c, c)
            total = cm.sum(axis=(1, 2))
            expected = (
                cm.sum(axis=2)[:, :, None] * cm.sum(axis=1)[:, None, :] / total[:, None, None]
            )
            denom = expected.reshape(len(w), -1) @ penalty
            num = cm.reshape(len(w), -1) @ penalty
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(denom > 0, 1.0 - num / np.where(denom > 0, denom, 1.0), np.nan)

        return kappa
    return None


def design_patients(units: Sequence[dict]) -> dict:
    """Patients (resampling groups) of each stratum of ``units``, in order of appearance."""
    out: dict = {}
    for u in units:
        out.setdefault(u["stratum"], len(np.unique(np.asarray(u["groups"]))))
    return out


def simulated_differences(
    units: Sequence[dict],
    metric: str,
    classes: Sequence[str],
    patients: int | None = None,
    draws: int = 2000,
    seed: int = 0,
) -> np.ndarray:
    """(draws,) estimates of simulated studies of ``patients`` patients in all, centred at 0.

    ``units`` are those of :func:`breastbench.metrics.bootstrap.fold_aware_bootstrap`.
    ``patients=None`` keeps each stratum's own size (the run's design). NaN draws (a metric
    undefined on a simulated test set) are dropped.
    """
    classes = list(classes)
    fn = metric_function(metric, classes)
    vec = weighted_scorer(metric, classes)
    sizes = design_patients(units)
    total = sum(sizes.values())
    target = total if patients is None else int(patients)
    rng = np.random.default_rng([int(seed), target])
    weights: dict = {}
    diffs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for u in units:
            y = np.asarray(u["y"]).astype(int)
            if u["stratum"] not in weights:
                share = max(1, int(round(target * sizes[u["stratum"]] / total)))
                groups = np.asarray(u["groups"])
                weights[u["stratum"]] = _sized_weights(rng, y, groups, share, draws)
            w = weights[u["stratum"]]
            side = {}
            for name in ("probs_a", "probs_b"):
                probs = [as_probability_matrix(p, len(classes)) for p in u[name]]
                side[name] = np.mean([_resampled_values(fn, vec, y, p, w) for p in probs], axis=0)
            diffs.append(side["probs_a"] - side["probs_b"])
    est = np.nanmean(np.asarray(diffs), axis=0) if diffs else np.full(draws, np.nan)
    est = est[~np.isnan(est)]
    if len(est) < 10:
        raise UserError(f"power: {metric} is undefined on almost every simulated study")
    return est - est.mean()


def power_at(noise: np.ndarray, delta: float, alpha: float) -> float:
    """Share of simulated studies with true difference ``delta`` whose test rejects at ``alpha``.

    ``noise`` is :func:`simulated_differences` (centred estimates); a study's estimate is
    ``delta + noise`` and it rejects when that lies beyond ``z(1 - alpha/2)`` standard errors.
    """
    crit = norm.ppf(1.0 - alpha / 2.0) * float(np.std(noise, ddof=1))
    return float(np.mean(np.abs(delta + noise) > crit))


def minimum_detectable_difference(noise: np.ndarray, alpha: float, power: float = 0.8) -> float:
    """Smallest ``delta >= 0`` whose simulated studies reject with at least ``power``.

    Bisection on the share of rejections (non-decreasing in ``delta`` for noise centred at 0),
    to 1e-6.
    """
    se = float(np.std(noise, ddof=1))
    if se == 0.0:
        return 0.0
    lo, hi = 0.0, (norm.ppf(1.0 - alpha / 2.0) + 1.0) * se + float(np.abs(noise).max())
    while hi - lo > 1e-6:
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if power_at(noise, mid, alpha) >= power else (mid, hi)
    return hi


def patients_needed(
    units: Sequence[dict],
    metric: str,
    classes: Sequence[str],
    delta: float,
    alpha: float,
    power: float = 0.8,
    draws: int = 2000,
    seed: int = 0,
    cap: float = 100.0,
    se: float | None = None,
) -> tuple[float, str]:
    """(smallest total patients detecting ``delta`` with ``power``, note); NaN when none is found.

    The search starts from the normal-approximation guess ``M (z_a + z_b)^2 SE^2 / delta^2``
    (``M`` the run's patients, ``SE`` its simulated standard error), brackets the answer by
    stepping by a factor 1.25, then bisects to 2% (or one patient); each size is simulated
    with its own draws. Sizes above ``cap`` times the run's patients are not simulated (NaN,
    said in the note); neither is a difference of 0 or NaN. ``se`` is the run's simulated
    standard error when the caller has it.
    """
    if not np.isfinite(delta) or delta == 0.0:
        return float("nan"), "no difference to detect"
    delta = abs(float(delta))
    total = sum(design_patients(units).values())
    smallest = 2 * len(classes)  # at least one patient of each class per test set
    largest = int(cap * total)

    def detects(m: int) -> bool:
        noise = simulated_differences(units, metric, classes, m, draws, seed)
        return power_at(noise, delta, alpha) >= power

    if se is None:
        noise = simulated_differences(units, metric, classes, None, draws, seed)
        se = float(np.std(noise, ddof=1))
    z = norm.ppf(1.0 - alpha / 2.0) + norm.ppf(power)
    guess = total * (z * se / delta) ** 2 if se > 0 else smallest
    m = int(np.clip(np.ceil(guess), smallest, largest))
    if detects(m):
        hi = m
        while hi > smallest:
            lo = max(smallest, int(hi / 1.25))
            if not detects(lo):
                break
            hi = lo
        else:
            return float(smallest), "the smallest simulated size"
    else:
        lo = m
        hi = min(largest, int(np.ceil(1.25 * m)))
        while not detects(hi):
            if hi >= largest:
                return float("nan"), f"more than {largest} patients ({cap:g}x the run's)"
            lo, hi = hi, min(largest, int(np.ceil(1.25 * hi)))
    while hi - lo > max(1, 0.02 * hi):
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if detects(mid) else (mid, hi)
    return float(hi), ""
