"""The per-sample predictions table a finished run writes (``predictions.csv``).

Where and how it is written belongs to :class:`breastbench.results.RunFolder`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def predictions_table(
    rows: pd.DataFrame, probs: np.ndarray, classes: list[str], fold: int | None
) -> pd.DataFrame:
    """Per-sample predictions: ids, truth, predicted class and every class probability."""
    from breastbench.metrics.classification import predict_labels

    pred = predict_labels(probs, len(classes))  # the same threshold rule as the metrics
    out = pd.DataFrame(
        {
            "image_id": rows["image_id"].astype(str).to_numpy()
            if "image_id" in rows
            else rows["path"].map(lambda p: Path(p).stem).to_numpy(),
            "path": rows["path"].to_numpy(),
            "patient_id": rows["patient_id"].astype(str).to_numpy(),
            "fold": fold if fold is not None else -1,
            "target": rows["target"].to_numpy(),
            "label": [classes[t] for t in rows["target"].to_numpy()],
            "pred": pred,
            "pred_label": [classes[p] for p in pred],
        }
    )
    for col in ("magnification", "laterality", "view", "dataset"):
        if col in rows:  # per-breast evaluation and text templates read these
            out[col] = rows[col].to_numpy()
    for i, c in enumerate(classes):
        out[f"prob_{c}"] = probs[:, i]
    return out
