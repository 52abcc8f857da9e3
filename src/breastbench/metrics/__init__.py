"""Metrics over prediction tables and paired statistical comparisons.

Everything here reads per-sample predictions (the ``predictions.csv`` layout of a run folder)
so that metrics and tests can always be recomputed from the saved files.
"""

from breastbench.metrics.aggregate import (
    patient_level,
    patient_table,
    pooled_oof_metrics,
)
from breastbench.metrics.classification import (
    BINARY_METRICS,
    MULTICLASS_METRICS,
    MetricWarning,
    compute_metrics,
    metrics_from_predictions,
)
from breastbench.metrics.compare import compare_configs
from breastbench.metrics.delong import delong_test
from breastbench.metrics.stats import (
    holm,
    mcnemar_test,
    min_wilcoxon_p,
    paired_bootstrap,
    wilcoxon_folds,
)

__all__ = [
    "BINARY_METRICS",
    "MULTICLASS_METRICS",
    "MetricWarning",
    "compare_configs",
    "compute_metrics",
    "delong_test",
    "holm",
    "mcnemar_test",
    "metrics_from_predictions",
    "min_wilcoxon_p",
    "paired_bootstrap",
    "patient_level",
    "patient_table",
    "pooled_oof_metrics",
    "wilcoxon_folds",
]
