"""Hand-made run folders with known scores, for the statistics tests of the analysis."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from breastbench import jsonio
from breastbench.metrics import compute_metrics
from breastbench.metrics.calibration import calibration_metrics
from breastbench.results.folder import LAYOUT, MARKER, RunFolder
from breastbench.results.key import RunKey

CLASSES = ["benign", "malignant"]


def fold_frame(fold: int, n_patients: int, images_per_patient: int = 1) -> pd.DataFrame:
    """The test images of one fold: balanced patients, ``images_per_patient`` each."""
    rows = []
    for p in range(n_patients):
        for i in range(images_per_patient):
            rows.append(
                {
                    "image_id": f"f{fold}_p{p}_i{i}",
                    "path": f"/x/f{fold}_p{p}_i{i}.png",
                    "patient_id": f"f{fold}_p{p}",
                    "fold": fold,
                    "target": p % 2,
                }
            )
    df = pd.DataFrame(rows)
    df["label"] = [CLASSES[t] for t in df["target"]]
    return df


def write_run(root: Path, key: RunKey, frame: pd.DataFrame, prob_pos: np.ndarray) -> None:
    """One complete run folder with predictions ``prob_pos`` for the images of ``frame``."""
    folder = RunFolder(root)
    jsonio.write_json(folder.root / MARKER, {"layout": LAYOUT})
    df = frame.copy()
    df["prob_benign"] = 1.0 - prob_pos
    df["prob_malignant"] = prob_pos
    df["pred"] = (prob_pos >= 0.5).astype(int)
    info = {"classes": CLASSES, "task": "binary"}
    y = df["target"].to_numpy()
    metrics = compute_metrics(y, prob_pos, CLASSES, warnings_out=[])
    metrics.update(calibration_metrics(y, prob_pos, 2))
    folder.write_run(key, info, df, [], metrics)


def write_grid(root: Path, keys: list[RunKey]) -> None:
    """``grid.json`` in the given (grid) order."""
    RunFolder(root).write_grid(keys)


def cv_key(model: str, fold: int, mode: str = "finetune", **kw) -> RunKey:
    """A cross-validation run key on breakhis 200x."""
    return RunKey("breakhis", 200, model, mode, "off", fold=fold, **kw)
