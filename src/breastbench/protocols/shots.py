"""Label efficiency: k labelled patients per class, drawn inside a training fold, R times.

A "shot" is a patient, not an image: ``k`` patients of each class are drawn without
replacement and all of their images are kept together, so no patient is split between support
sets and nothing outside ``train_df`` is ever drawn. A patient's class is the class of most of
its images (ties -> the lowest target). ``k="all"`` (or ``None``) keeps every training patient
(one draw). Classes with fewer than ``k`` patients contribute all they have.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from breastbench.errors import UserError

DEFAULT_SHOTS = (1, 2, 4, 8, 16, 32, "all")


def patient_classes(train_df: pd.DataFrame) -> pd.Series:
    """Majority target of each patient (index: patient_id, sorted)."""
    counts = train_df.groupby(["patient_id", "target"]).size().unstack(fill_value=0)
    return counts.idxmax(axis=1).sort_index()


def draw_support(train_df: pd.DataFrame, k, n_draws: int, seed: int) -> list[np.ndarray]:
    """``n_draws`` support sets: sorted positional indices into ``train_df``.

    Each draw takes ``k`` patients per class (all of their images); reproducible for ``seed``.
    """
    if n_draws < 1:
        raise UserError(f"label efficiency draws must be >= 1, got {n_draws}")
    patients = train_df["patient_id"].astype(str).to_numpy()
    if k is None or k == "all":
        return [np.arange(len(train_df))]
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise UserError(f"shots must be positive integers or 'all', got {k!r}")
    by_class = patient_classes(train_df.assign(patient_id=patients))
    groups = {c: np.asarray(ids.index) for c, ids in by_class.groupby(by_class)}
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(n_draws):
        chosen = [
            rng.choice(ids, size=min(int(k), len(ids)), replace=False)
            for _, ids in sorted(groups.items())
        ]
        draws.append(np.flatnonzero(np.isin(patients, np.concatenate(chosen))))
    return draws


def in_context_examples(support_df: pd.DataFrame, seed: int) -> np.ndarray:
    """One image per support patient, for in-context prompts: positions into ``support_df``.

    The image of each patient is drawn with ``seed``; the examples are ordered round-robin over
    the classes (class 0, class 1, ..., class 0, ...), so no class sits closest to the query.
    A patient's class is its majority class, as for the support draw.
    """
    rng = np.random.default_rng(seed)
    patients = support_df["patient_id"].astype(str).to_numpy()
    by_class = patient_classes(support_df.assign(patient_id=patients))
    queues = []
    for _, ids in sorted(by_class.groupby(by_class)):
        picks = []
        for pid in ids.index:  # sorted patient ids: the draw does not depend on row order
            rows = np.flatnonzero(
                (patients == pid) & (support_df["target"].to_numpy() == by_class[pid])
            )
            picks.append(int(rng.choice(rows)))
        queues.append(picks)
    order = [q[i] for i in range(max(map(len, queues))) for q in queues if i < len(q)]
    return np.asarray(order, dtype=np.int64)
