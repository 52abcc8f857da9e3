"""k-shot support draws: reproducible, inside the training fold, patients kept together."""

from __future__ import annotations

import numpy as np
import pandas as pd

from breastbench.protocols.shots import draw_support, in_context_examples


def manifest(n_patients=30, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for p in range(n_patients):
        target = p % 2
        rows += [{"patient_id": f"P{p}", "target": target, "fold": p % 5}] * rng.integers(1, 6)
    return pd.DataFrame(rows)


def test_draws_reproducible_and_inside_train_fold():
    df = manifest()
    train = df[df.fold != 0].reset_index(drop=True)
    a, b = draw_support(train, 4, 10, seed=3), draw_support(train, 4, 10, seed=3)
    assert all((x == y).all() for x, y in zip(a, b, strict=True))
    assert any((x.shape != y.shape) or (x != y).any() for x, y in zip(a, a[1:]))
    test_patients = set(df[df.fold == 0].patient_id)
    for idx in a:
        chosen = train.iloc[idx]
        assert not set(chosen.patient_id) & test_patients
        # every image of a chosen patient is kept
        assert len(chosen) == train.patient_id.isin(chosen.patient_id).sum()
        per_class = chosen.groupby("target").patient_id.nunique()
        assert (per_class == 4).all() and len(per_class) == 2


def test_all_keeps_every_training_patient():
    train = manifest()
    (idx,) = draw_support(train, "all", 5, seed=0)
    assert (idx == np.arange(len(train))).all()


def test_in_context_examples_one_image_per_support_patient_round_robin():
    df = manifest()
    train = df[df.fold != 0].reset_index(drop=True)
    support = train.iloc[draw_support(train, 3, 1, seed=5)[0]].reset_index(drop=True)
    picks = in_context_examples(support, seed=7)
    assert (picks == in_context_examples(support, seed=7)).all()  # reproducible for a seed
    chosen = support.iloc[picks]
    assert sorted(chosen.patient_id) == sorted(support.patient_id.unique())  # one per patient
    assert chosen.target.tolist() == [0, 1] * 3  # classes alternate
    # the order of the rows does not change which patients or classes come out
    shuffled = support.sample(frac=1, random_state=0).reset_index(drop=True)
    again = shuffled.iloc[in_context_examples(shuffled, seed=7)]
    assert again.patient_id.tolist() == chosen.patient_id.tolist()
