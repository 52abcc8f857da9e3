"""compare_configs aligns prediction tables, refuses mismatches, and picks the right test."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from breastbench.errors import UserError
from breastbench.metrics import compare_configs, delong_test, mcnemar_test

CLASSES = ["benign", "malignant"]


def table(y, prob, seed=0):
    df = pd.DataFrame(
        {
            "image_id": [f"img{i:03d}" for i in range(len(y))],
            "patient_id": [f"p{i // 5}" for i in range(len(y))],
            "fold": np.arange(len(y)) % 5,
            "target": y,
            "prob_benign": 1 - prob,
            "prob_malignant": prob,
        }
    )
    # a different row order must not matter: alignment is on image_id
    return df.sample(frac=1.0, random_state=seed).reset_index(drop=True)


@pytest.fixture
def two_configs():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 250)
    good = np.clip(0.5 * y + rng.normal(0.25, 0.2, 250), 0, 1)
    weak = np.clip(0.2 * y + rng.normal(0.4, 0.25, 250), 0, 1)
    return y, good, weak, table(y, good, 1), table(y, weak, 2)


def test_auto_auc_uses_delong_on_aligned_rows(two_configs):
    y, good, weak, a, b = two_configs
    row = compare_configs(a, b, "auc")
    ref = delong_test(y, good, weak)
    assert row["test"] == "delong" and row["n"] == 250
    assert row["p"] == pytest.approx(ref["p"]) and row["effect"] == pytest.approx(ref["diff"])
    assert row["value_a"] == pytest.approx(roc_auc_score(y, good))


def test_accuracy_uses_mcnemar(two_configs):
    y, good, weak, a, b = two_configs
    row = compare_configs(a, b, "accuracy")
    ref = mcnemar_test(y, good >= 0.5, weak >= 0.5)
    assert row["test"] == "mcnemar" and row["p"] == pytest.approx(ref["p"])
    assert row["ci_low"] < row["effect"] < row["ci_high"]


def test_bootstrap_by_patient_and_wilcoxon_over_folds(two_configs):
    _, _, _, a, b = two_configs
    boot = compare_configs(a, b, "f1", group="patient_id", n_boot=300, seed=1)
    assert boot["test"] == "bootstrap" and "50 patient_id groups" in boot["note"]
    assert boot == compare_configs(a, b, "f1", group="patient_id", n_boot=300, seed=1)
    wil = compare_configs(a, b, "auc", test="wilcoxon")
    assert wil["p"] == pytest.approx(0.0625) and "can never reach p < 0.05" in wil["note"]


def test_mismatched_tables_are_user_errors(two_configs):
    _, _, _, a, b = two_configs
    with pytest.raises(UserError, match="different samples"):
        compare_configs(a, b.iloc[:-1])
    flipped = b.copy()
    flipped.loc[0, "target"] = 1 - flipped.loc[0, "target"]
    with pytest.raises(UserError, match="true label"):
        compare_configs(a, flipped)
    with pytest.raises(UserError, match="duplicated image_id"):
        compare_configs(a, pd.concat([b, b.iloc[:1]]))
    with pytest.raises(UserError, match="mcnemar"):
        compare_configs(a, b, "auc", test="mcnemar")
