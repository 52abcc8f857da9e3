"""One named metric as a fast ``f(y, prob_matrix) -> float``, for resampling code.

The bootstrap, the subgroup intervals and the power simulation call a metric thousands of
times; this picks the numpy version of :mod:`breastbench.metrics.fast` where one exists.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from breastbench.errors import UserError
from breastbench.metrics.classification import compute_metrics
from breastbench.metrics.fast import fast_metric


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
