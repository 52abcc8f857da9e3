"""What a finished run writes: per-sample predictions and its folder, atomically.

The folder is assembled under ``runs/.tmp-<run_id>-<pid>`` and renamed into place with
``metrics.json`` written last, so a run folder that exists is a complete run.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from breastbench.experiment.grid import RunSpec


def predictions_table(
    rows: pd.DataFrame, probs: np.ndarray, classes: list[str], spec: RunSpec
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
            "fold": spec.fold if spec.fold is not None else -1,
            "target": rows["target"].to_numpy(),
            "label": [classes[t] for t in rows["target"].to_numpy()],
            "pred": pred,
            "pred_label": [classes[p] for p in pred],
        }
    )
    if "magnification" in rows:
        out["magnification"] = rows["magnification"].to_numpy()
    for i, c in enumerate(classes):
        out[f"prob_{c}"] = probs[:, i]
    return out


def write_run(
    runs_dir: Path,
    spec: RunSpec,
    info: dict,
    preds: pd.DataFrame,
    history: list[dict],
    metrics: dict,
    model,
) -> None:
    """Write one run's files (and its checkpoint when ``model`` is given) atomically."""
    tmp = runs_dir / f".tmp-{spec.run_id}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    preds.to_csv(tmp / "predictions.csv", index=False)
    # zero-shot trains nothing: the file still has its header, so every reader can parse it
    hist = pd.DataFrame(history, columns=None if history else ["epoch", "train_loss"])
    hist.to_csv(tmp / "history.csv", index=False)
    (tmp / "run.json").write_text(json.dumps(info, indent=2, default=str))
    if model is not None:
        from breastbench.models import save_checkpoint

        save_checkpoint(model, tmp / "checkpoint", classes=info["classes"])
    # metrics.json last: its presence marks the run complete
    (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2, default=float))
    final = runs_dir / spec.run_id
    if final.exists():  # an incomplete leftover (no metrics.json) or a concurrent finisher
        if (final / "metrics.json").exists():
            shutil.rmtree(tmp)
            return
        shutil.rmtree(final)
    os.rename(tmp, final)
