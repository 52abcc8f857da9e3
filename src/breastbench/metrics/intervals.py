"""Intervals over independent replicates (folds, seeds) that stay in a metric's range."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats

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
