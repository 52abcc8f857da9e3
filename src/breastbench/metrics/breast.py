"""Per-breast aggregation of mammography predictions (patient + laterality), as Mammo-CLIP.

A screening exam has several views of each breast (CC, MLO); density and findings are read per
breast. :func:`aggregate_per_breast` turns an image-level prediction table into a breast-level
one with the same columns, so every metric function reads it unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from breastbench.errors import UserError
from breastbench.metrics.classification import classes_from_predictions, predict_labels

BREAST_KEYS = ("patient_id", "laterality")


def aggregate_per_breast(
    predictions: pd.DataFrame, classes: Sequence[str] | None = None
) -> pd.DataFrame:
    """One row per (fold, patient, laterality): mean class probabilities of its images.

    The breast's target is the highest class among its images (views of one breast share their
    label in practice; if they differ, the higher reading stands, as in breast-level labels).
    ``pred``/``pred_label`` are recomputed from the mean probabilities with the metrics' rule;
    ``n_images`` counts the images averaged and ``image_id`` joins theirs with ``|``.
    """
    missing = [c for c in BREAST_KEYS if c not in predictions.columns]
    if missing:
        raise UserError(
            f"per-breast aggregation needs columns {', '.join(BREAST_KEYS)}; the predictions lack "
            f"{', '.join(missing)} (give the dataset a laterality column, L or R)"
        )
    if predictions["laterality"].isna().any():
        n = int(predictions["laterality"].isna().sum())
        raise UserError(f"per-breast aggregation: {n} predictions have no laterality (L or R)")
    classes = classes_from_predictions(predictions, classes)
    prob_cols = [f"prob_{c}" for c in classes]
    keys = [c for c in ("dataset", "fold", "magnification") if c in predictions.columns]
    keys += list(BREAST_KEYS)
    grouped = predictions.groupby(keys, sort=True, dropna=False)
    out = grouped[prob_cols].mean().reset_index()
    out["target"] = grouped["target"].max().to_numpy()
    out["n_images"] = grouped.size().to_numpy()
    if "image_id" in predictions.columns:
        out["image_id"] = grouped["image_id"].agg(lambda s: "|".join(map(str, s))).to_numpy()
    out["label"] = [classes[t] for t in out["target"].to_numpy()]
    pred = predict_labels(out[prob_cols].to_numpy(dtype=np.float64), len(classes))
    out["pred"] = pred
    out["pred_label"] = [classes[p] for p in pred]
    out.attrs = {**predictions.attrs, "classes": list(classes), "level": "breast"}
    return out
