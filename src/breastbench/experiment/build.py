"""Build a run: the model in the state its mode needs, its preprocessing and its input.

The input is the cheapest path the protocol allows (:func:`make_source`): cached frozen
features, cached vision tokens, or images through the augmentation pipeline; the choice is the
cache group's rule (:mod:`breastbench.experiment.cachegroup`) that the plan and Ray share.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from breastbench.experiment.cachegroup import input_kind
from breastbench.experiment.grid import RunSpec
from breastbench.experiment.sources import ImageSource, feature_source, vision_source
from breastbench.models.preprocess import Preprocessing
from breastbench.modes import get_mode

if TYPE_CHECKING:
    from breastbench.experiment.context import RunContext


def build_model(spec: RunSpec, classes: list[str], device: torch.device):
    """Create the run's model entry, set its mode, and build a zero-shot text head where asked."""
    from breastbench.models import create

    mc = spec.entry
    kwargs = dict(mc.options)
    if mc.input_size:
        kwargs["input_size"] = mc.input_size
    torch.manual_seed(spec.seed)  # random init (tiny models, heads) comes from the run seed
    model = create(mc.name, num_classes=len(classes), weights=mc.weights, **kwargs)
    state = get_mode(spec.key.mode).state  # the model state the mode needs
    model.set_mode(state)
    if state == "zero_shot" or (state == "linear_probe" and mc.init_head_from_text):
        mag = spec.key.magnification if mc.magnification_prompts else None
        model.build_zero_shot_head(classes, mc.prompt_set, magnification=mag)
        model.set_mode(state)
    return model.to(device)


def _transforms(prep: Preprocessing, augmentation: str):
    return prep.transform(train=True, augmentation=augmentation), prep.transform(train=False)


def preprocessing(ctx: RunContext, spec: RunSpec, model) -> Preprocessing:
    """The run's preprocessing record: the model's own plus the experiment's choices."""
    return Preprocessing.of_model(
        model, resize=spec.entry.resize, stain_norm=ctx.cfg.stain_norm, text_context=spec.text
    )


def text_rows(df: pd.DataFrame, spec: RunSpec) -> pd.DataFrame:
    """The manifest rows a text template is filled from; the run's magnification fills gaps."""
    mag = spec.key.magnification
    if "magnification" not in df.columns and mag is not None:
        return df.assign(magnification=mag)
    return df


def make_source(
    ctx: RunContext,
    spec: RunSpec,
    model,
    df: pd.DataFrame,
    targets: np.ndarray,
    prep: Preprocessing,
    store=None,
):
    """Pick the cheapest input path the protocol allows for this run.

    ``store`` (perturbed test images, see ``robustness``) replaces the run's image cache; the
    input path is chosen the same way, and the feature caches are keyed by its ``cache_tag``.
    """
    own = store is None
    store = ctx.store(df["path"].tolist(), prep) if own else store
    cache_dir = ctx.cache_dir if own or getattr(store, "cache_tag", None) else None
    train_tf, eval_tf = _transforms(prep, spec.key.augmentation)
    texts = prep.texts(text_rows(df, spec), where=f"dataset '{spec.key.dataset}'")
    kind = input_kind(spec)  # the one rule the plan and Ray group caches by
    if get_mode(spec.key.mode).probe:  # probes need the feature matrix (cached unless --no-cache)
        cache = cache_dir if ctx.use_cache else None
        return feature_source(model, store, targets, eval_tf, ctx.device, cache, texts)
    if ctx.use_cache and kind == "features":
        return feature_source(model, store, targets, eval_tf, ctx.device, cache_dir, texts)
    # VLM LoRA on the decoder and generative zero-shot read the cached vision tokens; where the
    # model's vision side trains after all, its outputs cannot be cached
    if ctx.use_cache and kind == "vision" and not getattr(model, "vision_trainable", False):
        return vision_source(model, store, targets, eval_tf, ctx.device, cache_dir, texts)
    return ImageSource(
        store,
        targets,
        train_tf,
        eval_tf,
        ctx.device,
        _workers(ctx, len(df)) if own else 0,
        spec.seed,
        texts,
        channels_last=ctx.device.type == "cuda" and model.info.family == "cnn",
    )


def _workers(ctx: RunContext, n_images: int) -> int:
    """Configured DataLoader workers, else a choice by device and size.

    0 on CPU or for small runs (starting workers costs more than it saves), up to 8 when a GPU
    waits for augmented images.
    """
    n = ctx.cfg.training.num_workers
    if n is not None:
        return n
    if ctx.device.type == "cpu" or n_images < 512:
        return 0
    return min(8, max((os.cpu_count() or 1) - 1, 0))


@dataclass
class Built:
    """A run's model, its preprocessing record and the input its mode reads."""

    model: object
    prep: Preprocessing
    source: object  # ImageSource, or a TensorSource of cached features / vision tokens
    t_model: float  # perf_counter when the model was built
    t_data: float  # perf_counter when its input was ready


def build(ctx: RunContext, spec: RunSpec, df, targets, classes) -> Built:
    """The model in the state its mode needs, its preprocessing and the input it reads."""
    model = build_model(spec, classes, ctx.device)
    t_model = time.perf_counter()
    prep = preprocessing(ctx, spec, model)
    source = make_source(ctx, spec, model, df, targets, prep)
    return Built(model, prep, source, t_model, time.perf_counter())
