"""Apply a saved model (``runs/<id>/checkpoint``) to new images.

The checkpoint's own ``data_config`` drives preprocessing, so a model is always fed exactly
what it was trained on; output is one row per image with every class probability.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from breastbench.errors import UserError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".pgm", ".dcm", ".dicom", ".bmp"}


def collect_images(inputs: list[str]) -> list[str]:
    """Expand files and folders (recursively) into a sorted list of image paths."""
    paths: list[str] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            paths += sorted(
                str(f.resolve()) for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES
            )
        elif p.is_file():
            paths.append(str(p.resolve()))
        else:
            raise UserError(f"{item}: no such file or folder")
    if not paths:
        raise UserError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found in {inputs}")
    return paths


@torch.no_grad()
def predict_images(
    checkpoint: str, inputs: list[str], device: torch.device, batch_size: int = 32
) -> pd.DataFrame:
    """Predictions of the checkpointed model for every image under ``inputs``."""
    from breastbench.experiment.augment import build_transforms
    from breastbench.experiment.images import decode_resized
    from breastbench.experiment.train import probabilities
    from breastbench.models import load_checkpoint

    ckpt = Path(checkpoint)
    if (ckpt / "checkpoint").is_dir():  # a run folder was given
        ckpt = ckpt / "checkpoint"
    if not (ckpt / "meta.json").exists():
        raise UserError(
            f"{checkpoint}: not a breastbench checkpoint (no meta.json); pass "
            "runs/<run_id>/checkpoint from a run with save_checkpoints"
        )
    model = load_checkpoint(ckpt).to(device).eval()
    classes = list(getattr(model, "classes", None) or [str(i) for i in range(model.num_classes)])
    dc = model.data_config
    tf = build_transforms(dc, train=False, augmentation="off")
    size = tuple(dc["input_size"][1:])
    paths = collect_images(inputs)
    probs = []
    for s in range(0, len(paths), batch_size):
        chunk = paths[s : s + batch_size]
        x = torch.stack(
            [tf(decode_resized(p, size, dc.get("interpolation", "bicubic"))) for p in chunk]
        ).to(device)
        probs.append(probabilities(model(x)))
    prob = np.concatenate(probs)
    from breastbench.metrics.classification import predict_labels

    pred = predict_labels(prob, len(classes))
    out = pd.DataFrame({"path": paths, "pred": pred, "pred_label": [classes[i] for i in pred]})
    for i, c in enumerate(classes):
        out[f"prob_{c}"] = prob[:, i]
    return out


def write_predictions(df: pd.DataFrame, path: str) -> None:
    """Write the table atomically."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".tmp{os.getpid()}")
    df.to_csv(tmp, index=False)
    os.replace(tmp, target)
