"""Classification metrics computed from per-sample probabilities.

Every number in a breastbench report comes from here, computed with scikit-learn from the
``predictions.csv`` of a run (columns ``target`` and ``prob_<class>``), so anyone can recompute
it from the files. Binary tasks threshold the positive-class probability (the second class in
the ordered class list) at 0.5; multi-class tasks take the arg-max class.

Undefined values (an AUC when the fold holds one class only, a recall for an absent class) are
``NaN`` rather than an exception, and a plain-language warning string is handed to the caller.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn import metrics as skm

from breastbench.errors import UserError

BINARY_METRICS = (
    "accuracy",
    "precision",
    "recall",
    "specificity",
    "f1",
    "auc",
    "balanced_accuracy",
)
MULTICLASS_METRICS = (
    "accuracy",
    "f1_macro",
    "f1_weighted",
    "kappa_quadratic",
    "auc_ovr_macro",
    "balanced_accuracy",
)


class MetricWarning(UserWarning):
    """A metric is undefined (NaN) for this data; the message says which and why."""


def _emit(message: str, warnings_out: list[str] | None) -> None:
    """Hand a warning string to the caller's list, or raise a Python warning if none given."""
    if warnings_out is not None:
        warnings_out.append(message)
    else:
        warnings.warn(message, MetricWarning, stacklevel=4)


def as_probability_matrix(prob: np.ndarray | Sequence, n_classes: int) -> np.ndarray:
    """Return probabilities as an (N, C) float array.

    Binary input may be the (N,) positive-class probability or an (N, 2) matrix.
    """
    p = np.asarray(prob, dtype=float)
    if p.ndim == 1:
        if n_classes != 2:
            raise UserError(
                f"prob has shape {p.shape} but there are {n_classes} classes; "
                "pass an (N, C) probability matrix for multi-class tasks"
            )
        return np.column_stack([1.0 - p, p])
    if p.ndim != 2 or p.shape[1] != n_classes:
        raise UserError(
            f"prob has shape {p.shape}, expected (N, {n_classes}) for classes; "
            "pass one probability column per class in class order"
        )
    return p


def predict_labels(prob: np.ndarray, n_classes: int, threshold: float = 0.5) -> np.ndarray:
    """Predicted class index: positive-probability >= threshold (binary) or arg-max."""
    p = as_probability_matrix(prob, n_classes)
    if n_classes == 2:
        return (p[:, 1] >= threshold).astype(int)
    return p.argmax(axis=1)


def _check_inputs(y_true, prob, classes) -> tuple[np.ndarray, np.ndarray, int]:
    classes = list(classes)
    if len(classes) < 2:
        raise UserError(f"classes must list at least two class names, got {classes!r}")
    y = np.asarray(y_true).astype(int)
    p = as_probability_matrix(prob, len(classes))
    if len(y) != len(p):
        raise UserError(f"y_true has {len(y)} rows but prob has {len(p)}; pass matching arrays")
    if len(y) == 0:
        raise UserError("no predictions to score; the prediction table is empty")
    if y.min() < 0 or y.max() >= len(classes):
        raise UserError(
            f"target values must be class indices 0..{len(classes) - 1}, got {sorted(set(y))}"
        )
    return y, p, len(classes)


def binary_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC of a binary score, NaN when only one class is present."""
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(skm.roc_auc_score(y, score))


def ovr_macro_auc(
    y: np.ndarray, p: np.ndarray, classes: Sequence[str], warnings_out: list[str] | None = None
) -> float:
    """One-vs-rest macro AUC: mean over classes of AUC(y == k, prob_k).

    Identical to ``roc_auc_score(multi_class="ovr", average="macro")`` when every class is
    present, but does not require rows to sum to exactly 1. Classes absent from ``y`` have no
    defined AUC; they are left out of the mean and reported in a warning.
    """
    aucs, skipped = [], []
    for k, name in enumerate(classes):
        auc = binary_auc((y == k).astype(int), p[:, k])
        (skipped.append(name) if np.isnan(auc) else aucs.append(auc))
    if skipped:
        _emit(
            f"auc_ovr_macro: classes {skipped} are absent (or alone) in y_true, so their "
            "one-vs-rest AUC is undefined and left out of the macro mean",
            warnings_out,
        )
    return float(np.mean(aucs)) if aucs else float("nan")


def _binary_metrics(y, p, threshold, warnings_out) -> dict[str, float]:
    pred = (p[:, 1] >= threshold).astype(int)
    tn, fp, fn, tp = skm.confusion_matrix(y, pred, labels=[0, 1]).ravel()
    out = {
        "accuracy": skm.accuracy_score(y, pred),
        "precision": skm.precision_score(y, pred, zero_division=0.0),
        "recall": skm.recall_score(y, pred, zero_division=np.nan),
        "specificity": tn / (tn + fp) if (tn + fp) else float("nan"),
        "f1": skm.f1_score(y, pred, zero_division=0.0),
        "auc": binary_auc(y, p[:, 1]),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
    }
    if tp + fp == 0:
        _emit("precision: no sample predicted positive, precision set to 0", warnings_out)
    if np.isnan(out["auc"]):
        _emit(
            f"auc: only one class present in y_true ({int(y[0])}), AUC is undefined (NaN)",
            warnings_out,
        )
    if tp + fn == 0 or tn + fp == 0:
        _emit("recall/specificity: a class is absent from y_true, its rate is NaN", warnings_out)
    return out


def _multiclass_metrics(y, p, classes, warnings_out) -> dict[str, float]:
    labels = list(range(len(classes)))
    pred = p.argmax(axis=1)
    out = {
        "accuracy": skm.accuracy_score(y, pred),
        "f1_macro": skm.f1_score(y, pred, labels=labels, average="macro", zero_division=0.0),
        "f1_weighted": skm.f1_score(y, pred, labels=labels, average="weighted", zero_division=0.0),
        "kappa_quadratic": skm.cohen_kappa_score(y, pred, labels=labels, weights="quadratic"),
        "auc_ovr_macro": ovr_macro_auc(y, p, classes, warnings_out),
        "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
    }
    recalls = skm.recall_score(y, pred, labels=labels, average=None, zero_division=np.nan)
    for name, r in zip(classes, recalls):
        out[f"recall_{name}"] = r
    if np.isnan(out["kappa_quadratic"]):
        _emit("kappa_quadratic: undefined (all labels and predictions equal), NaN", warnings_out)
    return out


def compute_metrics(
    y_true: np.ndarray | Sequence[int],
    prob: np.ndarray | Sequence,
    classes: Sequence[str],
    *,
    threshold: float = 0.5,
    warnings_out: list[str] | None = None,
) -> dict[str, float]:
    """Compute the task's metrics from per-sample probabilities.

    Args:
        y_true: (N,) integer class indices into ``classes``.
        prob: (N,) positive-class probability (binary) or (N, C) class probabilities.
        classes: ordered class names; two names means a binary task whose positive class is
            ``classes[1]``.
        threshold: decision threshold on the positive probability (binary only).
        warnings_out: a list that receives plain-language strings for undefined metrics;
            when omitted they are raised as :class:`MetricWarning`.

    Returns:
        ``{metric: float}``. Binary: accuracy, precision, recall (sensitivity), specificity,
        f1, auc, balanced_accuracy. Multi-class: accuracy, f1_macro, f1_weighted,
        kappa_quadratic (density is ordinal), auc_ovr_macro, balanced_accuracy and
        recall_<class> for every class.
    """
    classes = list(classes)
    y, p, n_classes = _check_inputs(y_true, prob, classes)
    notes: list[str] = []
    with warnings.catch_warnings():
        # sklearn's own warnings are replaced by the explicit NaN + message handling above.
        warnings.simplefilter("ignore")
        if n_classes == 2:
            out = _binary_metrics(y, p, threshold, notes)
        else:
            out = _multiclass_metrics(y, p, classes, notes)
    for note in notes:
        _emit(note, warnings_out)
    return {k: float(v) for k, v in out.items()}


def classes_from_predictions(df: pd.DataFrame, classes: Sequence[str] | None = None) -> list[str]:
    """The ordered class list: given, from ``df.attrs["classes"]``, or the ``prob_*`` columns."""
    if classes is not None:
        return list(classes)
    if df.attrs.get("classes"):
        return list(df.attrs["classes"])
    found = [c[len("prob_") :] for c in df.columns if str(c).startswith("prob_")]
    if len(found) < 2:
        raise UserError(
            "cannot tell the classes of this prediction table: it has no prob_<class> columns; "
            "pass classes=[...] explicitly"
        )
    return found


def probabilities_from_predictions(df: pd.DataFrame, classes: Sequence[str]) -> np.ndarray:
    """The (N, C) probability matrix from ``prob_<class>`` columns (binary may hold one)."""
    classes = list(classes)
    cols = [f"prob_{c}" for c in classes]
    missing = [c for c in cols if c not in df.columns]
    if len(classes) == 2 and cols[1] in df.columns:
        return as_probability_matrix(df[cols[1]].to_numpy(dtype=float), 2)
    if missing:
        raise UserError(
            f"prediction table lacks columns {missing}; it must have prob_<class> for each of "
            f"{classes}"
        )
    return df[cols].to_numpy(dtype=float)


def metrics_from_predictions(
    df: pd.DataFrame,
    classes: Sequence[str] | None = None,
    *,
    threshold: float = 0.5,
    warnings_out: list[str] | None = None,
) -> dict[str, float]:
    """Metrics of a ``predictions.csv`` table (``target`` and ``prob_<class>`` columns)."""
    classes = classes_from_predictions(df, classes)
    if "target" not in df.columns:
        raise UserError("prediction table lacks the 'target' column (true class index)")
    prob = probabilities_from_predictions(df, classes)
    return compute_metrics(
        df["target"].to_numpy(), prob, classes, threshold=threshold, warnings_out=warnings_out
    )
