"""Reliability-curve points of every configuration, for ``summary/reliability.csv``.

The analysis computes them so the report only draws: per configuration, the test predictions of
all its runs (each image scored by the one model of its fold or seed; draws and seeds stacked,
never averaged into an ensemble) binned by top-label confidence into
:data:`~breastbench.metrics.calibration.CALIBRATION_BINS` equal-width bins. Descriptive, like
every pooled number.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from breastbench.metrics.calibration import (
    CALIBRATION_BINS,
    equal_width_bins,
    reliability,
    top_label,
)
from breastbench.metrics.classification import probabilities_from_predictions
from breastbench.results.folder import StoredRun
from breastbench.results.key import RunKey

COLUMNS = ["config_id", "label", "bin", "bin_low", "bin_high", "confidence", "accuracy", "count"]


def reliability_table(
    runs: list[StoredRun], label: Callable[[RunKey], str], bins: int = CALIBRATION_BINS
) -> pd.DataFrame:
    """One row per configuration and non-empty bin: mean confidence, accuracy, count."""
    by_cfg: dict[RunKey, list[StoredRun]] = {}
    for r in runs:
        by_cfg.setdefault(r.key.config, []).append(r)
    rows = []
    for cfg, group in sorted(by_cfg.items()):
        classes = group[0].classes
        ys, ps = [], []
        for r in sorted(group, key=lambda r: r.key):
            ys.append(r.predictions["target"].to_numpy().astype(int))
            ps.append(probabilities_from_predictions(r.predictions, classes))
        y, p = np.concatenate(ys), np.concatenate(ps)
        if not len(y):
            continue
        confidence, correct = top_label(y, p)
        ids, conf, acc, count = reliability(confidence, correct, equal_width_bins(confidence, bins))
        for b, c, a, n in zip(ids, conf, acc, count):
            rows.append(
                {
                    "config_id": cfg.run_id,
                    "label": label(cfg),
                    "bin": int(b),
                    "bin_low": b / bins,
                    "bin_high": (b + 1) / bins,
                    "confidence": float(c),
                    "accuracy": float(a),
                    "count": int(n),
                }
            )
    return pd.DataFrame(rows, columns=COLUMNS)
