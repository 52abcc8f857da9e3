"""Aggregating metrics over folds, pooled out-of-fold, and per patient.

Two views of one cross-validation, both from the prediction files:

- ``pooled_oof_metrics``: one metric over the concatenated out-of-fold predictions (every image
  scored once); descriptive only, since it pools the scores of differently calibrated fold
  models (the analysis' tests work within folds:
  :func:`breastbench.metrics.stats.fold_aware_bootstrap`);
- ``patient_level``: the mean probability per patient, then the metrics, because a clinical
  decision is made per patient, not per image.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from breastbench.errors import UserError
from breastbench.metrics.classification import classes_from_predictions, metrics_from_predictions

# Columns of a per-fold metrics table that identify a run rather than measure it.
_NON_METRIC = {"fold", "seed", "n_train", "n_test", "external", "magnification"}


def _one_prediction_per_image(df: pd.DataFrame, what: str) -> None:
    key = "image_id" if "image_id" in df.columns else "path" if "path" in df.columns else None
    if key is None:
        return
    dup = df[key][df[key].duplicated()]
    if len(dup):
        raise UserError(
            f"{what}: {dup.nunique()} images have more than one prediction (e.g. "
            f"{dup.iloc[0]!r}); pooled out-of-fold metrics need exactly one per image, so pass "
            "the predictions of a single configuration"
        )


def pooled_oof_metrics(
    predictions: pd.DataFrame | Sequence[pd.DataFrame],
    classes: Sequence[str] | None = None,
    *,
    warnings_out: list[str] | None = None,
) -> dict[str, float]:
    """Metrics over all out-of-fold predictions of one configuration pooled together.

    ``predictions`` is one table holding every fold or a list of per-fold tables; each image
    must appear once (checked on ``image_id``, else ``path``).
    """
    if not isinstance(predictions, pd.DataFrame):
        tables = list(predictions)
        if not tables:
            raise UserError("pooled_oof_metrics: no prediction tables given")
        attrs = dict(tables[0].attrs)
        predictions = pd.concat(tables, ignore_index=True)
        predictions.attrs.update(attrs)
    _one_prediction_per_image(predictions, "pooled_oof_metrics")
    return metrics_from_predictions(predictions, classes, warnings_out=warnings_out)


def patient_table(
    df: pd.DataFrame, classes: Sequence[str] | None = None, group: str = "patient_id"
) -> pd.DataFrame:
    """One row per patient: the mean of each ``prob_<class>`` column and the patient's target.

    A patient whose images carry different targets (possible for subtype labels) has no single
    true label, so that is an error naming the patients.
    """
    classes = classes_from_predictions(df, classes)
    if group not in df.columns or "target" not in df.columns:
        raise UserError(f"patient-level metrics need '{group}' and 'target' columns")
    prob_cols = [f"prob_{c}" for c in classes if f"prob_{c}" in df.columns]
    mixed = df.groupby(group)["target"].nunique()
    mixed = mixed[mixed > 1]
    if len(mixed):
        raise UserError(
            f"patient-level metrics: {len(mixed)} {group} values have images with different "
            f"labels (e.g. {mixed.index[0]!r}); aggregate by a column with one label per "
            "group (e.g. group='slide_id') or use image-level metrics"
        )
    out = df.groupby(group, sort=True).agg({**{c: "mean" for c in prob_cols}, "target": "first"})
    out["n_images"] = df.groupby(group, sort=True).size()
    out = out.reset_index()
    out.attrs["classes"] = classes
    return out


def patient_level(
    df: pd.DataFrame,
    classes: Sequence[str] | None = None,
    *,
    group: str = "patient_id",
    warnings_out: list[str] | None = None,
) -> dict[str, float]:
    """Metrics after averaging each patient's image probabilities (see :func:`patient_table`)."""
    table = patient_table(df, classes, group)
    return metrics_from_predictions(table, table.attrs["classes"], warnings_out=warnings_out)
