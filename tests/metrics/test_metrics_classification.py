"""Metrics agree with scikit-learn recomputed by hand, and undefined values are NaN + a note."""

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from breastbench.errors import UserError
from breastbench.metrics import (
    BINARY_METRICS,
    MULTICLASS_METRICS,
    MetricWarning,
    compute_metrics,
    metrics_from_predictions,
    patient_level,
    pooled_oof_metrics,
)

BINARY = ["benign", "malignant"]
DENSITY = ["A", "B", "C", "D"]


def binary_data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    prob = np.clip(0.5 * y + rng.normal(0.25, 0.25, n), 0, 1)
    return y, prob


def multiclass_data(n=300, c=4, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    logits = rng.normal(size=(n, c)) + 1.5 * np.eye(c)[y]
    prob = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, prob


def predictions_table(y, prob, classes, n_folds=5, seed=0):
    p = prob if prob.ndim == 2 else np.column_stack([1 - prob, prob])
    df = pd.DataFrame({"image_id": [f"img{i}" for i in range(len(y))], "target": y})
    df["patient_id"] = [f"p{i // 4}" for i in range(len(y))]
    df["fold"] = np.random.default_rng(seed).integers(0, n_folds, len(y))
    for k, name in enumerate(classes):
        df[f"prob_{name}"] = p[:, k]
    return df


def test_binary_metrics_equal_sklearn():
    y, prob = binary_data()
    pred = (prob >= 0.5).astype(int)
    m = compute_metrics(y, prob, BINARY)
    assert tuple(m) == BINARY_METRICS
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["precision"] == pytest.approx(skm.precision_score(y, pred))
    assert m["recall"] == pytest.approx(skm.recall_score(y, pred))
    assert m["specificity"] == pytest.approx(skm.recall_score(y, pred, pos_label=0))
    assert m["f1"] == pytest.approx(skm.f1_score(y, pred))
    assert m["auc"] == pytest.approx(skm.roc_auc_score(y, prob))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))


def test_binary_accepts_two_column_probabilities():
    y, prob = binary_data()
    assert compute_metrics(y, np.column_stack([1 - prob, prob]), BINARY) == compute_metrics(
        y, prob, BINARY
    )


def test_multiclass_metrics_equal_sklearn():
    y, prob = multiclass_data()
    pred = prob.argmax(axis=1)
    m = compute_metrics(y, prob, DENSITY)
    assert set(MULTICLASS_METRICS) <= set(m)
    assert m["kappa_quadratic"] == pytest.approx(
        skm.cohen_kappa_score(y, pred, weights="quadratic")
    )
    assert m["auc_ovr_macro"] == pytest.approx(
        skm.roc_auc_score(y, prob, multi_class="ovr", average="macro")
    )
    assert m["f1_macro"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert m["f1_weighted"] == pytest.approx(skm.f1_score(y, pred, average="weighted"))
    recalls = skm.recall_score(y, pred, average=None)
    assert [m[f"recall_{c}"] for c in DENSITY] == pytest.approx(list(recalls))


def test_single_class_auc_is_nan_with_warning_string():
    y = np.ones(10, dtype=int)
    prob = np.linspace(0.1, 0.9, 10)
    notes: list[str] = []
    m = compute_metrics(y, prob, BINARY, warnings_out=notes)
    assert np.isnan(m["auc"]) and np.isnan(m["specificity"])
    assert any("auc" in n and "one class" in n for n in notes)
    with pytest.warns(MetricWarning) as record:
        compute_metrics(y, prob, BINARY)
    assert any("AUC is undefined" in str(w.message) for w in record)


def test_multiclass_absent_class_is_left_out_of_macro_auc():
    y, prob = multiclass_data()
    keep = y != 3
    notes: list[str] = []
    m = compute_metrics(y[keep], prob[keep], DENSITY, warnings_out=notes)
    expected = np.mean([skm.roc_auc_score(y[keep] == k, prob[keep][:, k]) for k in range(3)])
    assert m["auc_ovr_macro"] == pytest.approx(expected)
    assert np.isnan(m["recall_D"])
    assert any("['D']" in n for n in notes)


@pytest.mark.parametrize(
    "prob, classes",
    [(np.zeros((5, 3)), BINARY), (np.zeros(5), DENSITY), (np.zeros(4), BINARY)],
)
def test_bad_shapes_are_user_errors(prob, classes):
    with pytest.raises(UserError):
        compute_metrics(np.zeros(5, dtype=int), prob, classes)


def test_metrics_from_predictions_reads_prob_columns():
    y, prob = multiclass_data()
    df = predictions_table(y, prob, DENSITY)
    assert metrics_from_predictions(df) == compute_metrics(y, prob, DENSITY)
    with pytest.raises(UserError, match="prob_D"):
        metrics_from_predictions(df.drop(columns="prob_D"), DENSITY)


def test_pooled_oof_equals_concatenation_and_rejects_duplicates():
    y, prob = binary_data()
    df = predictions_table(y, prob, BINARY)
    folds = [g for _, g in df.groupby("fold")]
    assert pooled_oof_metrics(folds, BINARY) == compute_metrics(y, prob, BINARY)
    with pytest.raises(UserError, match="more than one prediction"):
        pooled_oof_metrics(pd.concat([df, df.iloc[:3]]), BINARY)


def test_patient_level_averages_probabilities_per_patient():
    y = np.repeat([0, 1, 0, 1], 3)
    prob = np.array([0.2, 0.4, 0.9, 0.8, 0.7, 0.3, 0.1, 0.1, 0.1, 0.6, 0.6, 0.9])
    df = predictions_table(y, prob, BINARY)
    df["patient_id"] = np.repeat(["p0", "p1", "p2", "p3"], 3)
    patient_prob = prob.reshape(4, 3).mean(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = patient_level(df, BINARY)
    assert m == compute_metrics([0, 1, 0, 1], patient_prob, BINARY)
    df.loc[0, "target"] = 1
    with pytest.raises(UserError, match="different"):
        patient_level(df, BINARY)
