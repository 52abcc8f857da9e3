"""aggregate_per_breast: mean probabilities per (patient, laterality), against a hand pivot."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from breastbench.errors import UserError
from breastbench.metrics.breast import aggregate_per_breast
from breastbench.metrics.classification import metrics_from_predictions

CLASSES = ["A", "B", "C", "D"]


def _images(seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for fold in (0, 1):
        for p in range(6):
            for lat in ("L", "R"):
                target = int(rng.integers(4))
                for view in ("CC", "MLO"):
                    prob = rng.dirichlet(np.ones(4))
                    rows.append(
                        {
                            "image_id": f"{fold}-{p}-{lat}-{view}",
                            "patient_id": f"p{fold}{p}",
                            "laterality": lat,
                            "fold": fold,
                            "target": target,
                            **{f"prob_{c}": prob[i] for i, c in enumerate(CLASSES)},
                        }
                    )
    return pd.DataFrame(rows)


def test_means_per_breast_match_a_pandas_pivot():
    images = _images()
    breasts = aggregate_per_breast(images, CLASSES)
    assert len(breasts) == 2 * 6 * 2 and (breasts["n_images"] == 2).all()
    ref = images.groupby(["fold", "patient_id", "laterality"])[["prob_A", "prob_D"]].mean()
    got = breasts.set_index(["fold", "patient_id", "laterality"])[["prob_A", "prob_D"]]
    pd.testing.assert_frame_equal(got, ref)
    probs = breasts[[f"prob_{c}" for c in CLASSES]].to_numpy()
    assert np.allclose(probs.sum(1), 1)
    assert (breasts["pred"] == probs.argmax(1)).all()
    assert breasts.attrs["level"] == "breast"
    m = metrics_from_predictions(breasts, CLASSES)
    kappa = cohen_kappa_score(breasts["target"], breasts["pred"], weights="quadratic")
    assert m["kappa_quadratic"] == pytest.approx(kappa)


def test_binary_threshold_rule():
    df = pd.DataFrame(
        {
            "patient_id": ["a", "a", "b"],
            "laterality": ["L", "L", "R"],
            "target": [1, 1, 0],
            "prob_benign": [0.7, 0.2, 0.9],
            "prob_malignant": [0.3, 0.8, 0.1],
        }
    )
    out = aggregate_per_breast(df)
    assert out["prob_malignant"].tolist() == pytest.approx([0.55, 0.1])
    assert out["pred_label"].tolist() == ["malignant", "benign"]


def test_missing_laterality_is_one_line():
    df = _images().drop(columns="laterality")
    with pytest.raises(UserError, match="lack laterality"):
        aggregate_per_breast(df, CLASSES)
