"""What fitting a run's mode needs besides the trainer.

The micro-batch (:mod:`breastbench.experiment.microbatch`; ``auto`` probes), a probe-like
mode fitted on the frozen training features, and the in-context examples a generative VLM is
shown before each query.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from breastbench.experiment.grid import RunSpec
from breastbench.modes import Mode, get_mode

if TYPE_CHECKING:
    from breastbench.experiment.context import RunContext


def micro_batch(ctx: RunContext, spec: RunSpec, model, source, train_idx):
    """The run's micro-batch (:mod:`breastbench.experiment.microbatch`; ``auto`` probes)."""
    from breastbench.experiment.microbatch import resolve

    mc = spec.entry
    batch = ctx.cfg.training.batch_size
    if not get_mode(spec.key.mode).trains or ctx.cfg.training.epochs == 0 or len(train_idx) == 0:
        configured = None if mc.micro_batch_size == "auto" else mc.micro_batch_size
        return resolve(
            configured,
            batch_size=batch,
            model=None,
            source=None,
            train_idx=None,
            device=ctx.device,
            amp="",
            key_parts={},
            cache_dir=None,
        )
    size = tuple(model.data_config["input_size"][1:])
    key = {
        "model": mc.name,
        "options": sorted(mc.options.items()),
        "mode": spec.key.mode,
        "input": "x".join(map(str, size)),
        "input_path": type(source).__name__,
    }
    return resolve(
        mc.micro_batch_size,
        batch_size=batch,
        model=model,
        source=source,
        train_idx=train_idx,
        device=ctx.device,
        amp=ctx.cfg.training.amp,
        key_parts=key,
        cache_dir=ctx.cache_dir,
        # the entry's position, only to name it as config.yaml does (models[i])
        where=f"models[{ctx.cfg.models.index(mc)}].",
    )


def fitted_probe(mode: Mode, spec, source, df, targets, train_idx, n_classes):
    """The probe-like mode's training set: the frozen features and targets of the train rows."""
    from breastbench.modes.fitted import FittedProbe

    tr = np.asarray(train_idx)
    return FittedProbe(
        mode=mode.name,
        x_train=source.data.float().numpy()[tr],
        y_train=np.asarray(targets)[tr],
        groups=df["patient_id"].astype(str).to_numpy()[tr].tolist(),
        seed=spec.seed,
        num_classes=n_classes,
        source=mode.source,
    )


def fit_probe(spec, source, df, targets, train_idx, test_idx, n_classes, info: dict, x_test=None):
    """The run's probe-like mode fitted on the frozen training features; test probabilities.

    ``x_test`` (perturbed test features) replaces the test rows' features; the probe is fitted
    on the same training features either way (deterministic: the same probe).
    """
    mode = get_mode(spec.key.mode)
    fitted = fitted_probe(mode, spec, source, df, targets, train_idx, n_classes)
    x = source.data.float().numpy()[np.asarray(test_idx)] if x_test is None else x_test
    return fitted.predict(x, info)


def in_context(model, source, df: pd.DataFrame, support_idx: np.ndarray, spec: RunSpec) -> dict:
    """Show a generative VLM one image per support patient before each query (k-shot ICL).

    The examples come from the run's support set (k patients per class of the training fold,
    the same draw as the label-efficiency probes), their order round-robin over the classes.
    Returns what run.json records about them.
    """
    from breastbench.experiment.sources import ImageSource
    from breastbench.protocols.shots import in_context_examples

    rows = df.iloc[support_idx].reset_index(drop=True)
    picked = support_idx[in_context_examples(rows, seed=spec.seed * 1000 + (spec.key.draw or 0))]
    chunks, texts = [], []
    for x, _ in source.batches(picked, 64, train=False, epoch=0):
        if isinstance(x, tuple):
            x, batch_texts = x
            texts += batch_texts
        chunks.append(x)
    vision = not isinstance(source, ImageSource)  # cached vision tokens, else images
    labels = df["target"].to_numpy()[picked]
    model.set_examples(torch.cat(chunks), labels, texts or None, vision=vision)
    return {
        "examples": int(len(picked)),
        "paths": df["path"].iloc[picked].astype(str).tolist(),
        "labels": [int(v) for v in labels],
    }
