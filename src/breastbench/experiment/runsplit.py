"""A run's rows: its table and train / inner-validation / test indices.

Cross-validation takes the test fold against the other folds of one magnification; an external
run takes all of the training dataset against the whole external set (relabelled through the
declared mapping); a label-efficiency run draws its support set inside the training fold.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from breastbench.errors import UserError
from breastbench.experiment.grid import RunSpec, shot_draws

if TYPE_CHECKING:
    from breastbench.experiment.context import RunContext


def subset(df: pd.DataFrame, magnification: int | None) -> pd.DataFrame:
    """The rows of one experiment (one magnification, or all)."""
    if magnification is None:
        return df.reset_index(drop=True)
    return df[df["magnification"] == magnification].reset_index(drop=True)


def external_targets(
    test_df: pd.DataFrame, classes: list[str], label_map: dict | None, name: str
) -> np.ndarray:
    """Map the external dataset's labels onto the training classes (declared, never guessed)."""
    labels = test_df["label"].map(lambda v: (label_map or {}).get(v, v))
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise UserError(
            f"external[{name}]: labels {unknown} have no training class ({classes}); add them "
            "to external.label_map, e.g. Normal: benign"
        )
    return labels.map({c: i for i, c in enumerate(classes)}).to_numpy()


def inner_validation(df: pd.DataFrame, train_idx: np.ndarray, fraction: float, seed: int):
    """Split training patients into train/validation, grouped and stratified (never test)."""
    if fraction <= 0:
        return train_idx, None
    from sklearn.model_selection import StratifiedGroupKFold

    n_splits = max(2, round(1 / fraction))
    sgkf = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    sub = df.iloc[train_idx]
    tr, va = next(sgkf.split(np.zeros(len(sub)), sub["target"], sub["patient_id"]))
    return train_idx[tr], train_idx[va]


def split(spec: RunSpec, ctx: RunContext):
    """The run's table and its train / inner-validation / test indices.

    Cross-validation: the test fold against the other folds of one magnification. External:
    all of the training dataset against the whole external set, relabelled through the
    declared mapping.
    """
    key = spec.key
    full = ctx.manifests[key.dataset]
    train_df = subset(full, key.magnification)
    if key.external:
        cfg = ctx.cfg
        test_df = ctx.manifests[key.external].reset_index(drop=True)
        ext = next(e for e in cfg.external if e.train == key.dataset and e.test == key.external)
        classes = list(full.attrs["classes"])
        test_targets = external_targets(test_df, classes, ext.label_map, key.external)
        df = pd.concat([train_df, test_df.assign(target=test_targets)], ignore_index=True)
        train_idx = np.arange(len(train_df))
        test_idx = np.arange(len(train_df), len(df))
    else:
        df = train_df
        train_idx = np.flatnonzero(df["fold"].to_numpy() != key.fold)
        test_idx = np.flatnonzero(df["fold"].to_numpy() == key.fold)
    if key.shots is not None:  # label efficiency: k labelled patients per class of this fold
        return df, support(df, train_idx, spec, ctx.cfg), None, test_idx
    train_idx, val_idx = inner_validation(df, train_idx, ctx.cfg.training.val_fraction, spec.seed)
    return df, train_idx, val_idx, test_idx


def support(df: pd.DataFrame, train_idx: np.ndarray, spec: RunSpec, cfg) -> np.ndarray:
    """The run's support set: draw ``spec.key.draw`` of k patients per class, inside the fold.

    Draws depend on (experiment seed, fold) only, so every model and mode of the curve sees the
    same support sets, and the test fold is never drawn from.
    """
    from breastbench.protocols.shots import draw_support

    key = spec.key
    k = "all" if key.shots == "all" else int(key.shots)
    n_draws = 1 if k == "all" else shot_draws(cfg)
    rows = df.iloc[train_idx].reset_index(drop=True)
    draws = draw_support(rows, k, n_draws, seed=cfg.seed * 1000 + (key.fold or 0))
    return train_idx[draws[key.draw or 0]]
