"""The points of every pooled curve the report draws, for ``summary/``.

The analysis computes them so the report only reads and draws (``docs/DESIGN.md``):

- ``roc.csv``: the ROC curve of each configuration's pooled out-of-fold predictions (binary:
  the positive class; several classes: micro-averaged one-vs-rest) with its pooled AUC;
- ``confusion.csv``: counts of (true, predicted) class per configuration, pooled;
- ``reliability_pooled.csv``: 10-bin reliability points (binary: P(positive class); several
  classes: top-label confidence) and the expected calibration error, pooled;
- ``loss_curves.csv``: train / held-out / inner-validation loss per epoch, mean and sample
  std over the configuration's runs.

Pooling (:func:`pooled_predictions`): the configuration's runs in key order, stacked; replicates
over training seeds on an external test set score the same images, so their probabilities are
averaged per image instead. Every number here is descriptive: no test uses it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score, roc_curve

from breastbench.results.stored import StoredRun

LOSS_COLUMNS = ("train_loss", "test_loss", "val_loss")
RELIABILITY_BINS = 10


def pooled_predictions(group: list[StoredRun]) -> pd.DataFrame:
    """All out-of-fold predictions of one configuration (runs in key order) in one table."""
    runs = sorted(group, key=lambda r: r.key)
    both = pd.concat([r.predictions for r in runs], ignore_index=True)
    if runs[0].key.external is None or len(runs) < 2:
        return both
    probs = [c for c in both.columns if c.startswith("prob_")]
    first = both.drop_duplicates("image_id").set_index("image_id").drop(columns=probs)
    return first.join(both.groupby("image_id")[probs].mean()).reset_index()


def probability_matrix(df: pd.DataFrame, classes: list[str]) -> np.ndarray:
    """(N, C) probabilities; a binary table may only carry the positive-class column."""
    if len(classes) == 2 and f"prob_{classes[0]}" not in df.columns:
        pos = df[f"prob_{classes[1]}"].to_numpy(dtype=float)
        return np.column_stack([1 - pos, pos])
    return df[[f"prob_{c}" for c in classes]].to_numpy(dtype=float)


def predicted_index(df: pd.DataFrame, classes: list[str]) -> np.ndarray:
    """Predicted class index from ``pred`` (an index or a class name)."""
    pred = df["pred"]
    if pd.api.types.is_numeric_dtype(pred):
        return pred.to_numpy(dtype=int)
    index = {c: i for i, c in enumerate(classes)}
    return pred.astype(str).map(index).fillna(-1).to_numpy(dtype=int)


def roc_points(df: pd.DataFrame, classes: list[str]) -> tuple[np.ndarray, np.ndarray, float]:
    """Binary ROC of the positive class, or the micro-averaged one-vs-rest ROC."""
    y = df["target"].to_numpy(dtype=int)
    prob = probability_matrix(df, classes)
    if len(classes) == 2:
        truth, score = y == 1, prob[:, 1]
    else:
        truth = (y[:, None] == np.arange(len(classes))[None, :]).ravel()
        score = prob.ravel()
    if truth.all() or not truth.any():
        return np.array([]), np.array([]), float("nan")
    fpr, tpr, _ = roc_curve(truth, score)
    return fpr, tpr, float(roc_auc_score(truth, score))


def reliability_points(df: pd.DataFrame, classes: list[str], bins: int = RELIABILITY_BINS):
    """Per-bin mean confidence, observed frequency and count (binary: P(positive))."""
    y = df["target"].to_numpy(dtype=int)
    prob = probability_matrix(df, classes)
    if len(classes) == 2:
        conf, hit = prob[:, 1], (y == 1).astype(float)
    else:
        conf, hit = prob.max(axis=1), (prob.argmax(axis=1) == y).astype(float)
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    table = pd.DataFrame({"bin": which, "conf": conf, "hit": hit})
    return table.groupby("bin").agg(conf=("conf", "mean"), freq=("hit", "mean"), n=("hit", "size"))


def _confusion(df: pd.DataFrame, classes: list[str]) -> np.ndarray:
    k = len(classes)
    y, pred = df["target"].to_numpy(dtype=int), predicted_index(df, classes)
    counts = np.zeros((k, k), dtype=int)
    for t, p in zip(y, pred):
        if 0 <= p < k:
            counts[t, p] += 1
    return counts


def history_stats(group: list[StoredRun], column: str) -> pd.DataFrame | None:
    """Mean and sample std per epoch of one history column over the runs (None: no history)."""
    # a zero-shot run keeps a header-only history: nothing to draw
    frames = [
        r.history
        for r in sorted(group, key=lambda r: r.key)
        if r.history is not None and column in r.history and len(r.history)
    ]
    if not frames:
        return None
    long = pd.concat([f[["epoch", column]] for f in frames]).astype(float)
    return long.groupby("epoch")[column].agg(["mean", "std"]).fillna({"std": 0.0})


def _groups(runs: list[StoredRun]) -> dict:
    """Whole-fold configurations (no support draws) and their runs, by configuration id."""
    out: dict[str, list[StoredRun]] = {}
    for r in sorted(runs, key=lambda r: r.key):
        if r.key.shots is None:
            out.setdefault(r.key.config_id, []).append(r)
    return out


def curve_tables(runs: list[StoredRun]) -> dict[str, pd.DataFrame]:
    """``roc``, ``confusion``, ``reliability_pooled`` and ``loss_curves`` (see the docstring)."""
    roc, confusion, reliability, loss = [], [], [], []
    for cid, group in _groups(runs).items():
        classes = group[0].classes
        df = pooled_predictions(group)
        fpr, tpr, auc = roc_points(df, classes)
        roc += [
            {"config_id": cid, "point": i, "fpr": f, "tpr": t, "auc": auc}
            for i, (f, t) in enumerate(zip(fpr, tpr))
        ]
        counts = _confusion(df, classes)
        confusion += [
            {"config_id": cid, "true": i, "pred": j, "count": int(counts[i, j])}
            for i in range(len(classes))
            for j in range(len(classes))
        ]
        pts = reliability_points(df, classes)
        ece = float((pts["n"] * (pts["conf"] - pts["freq"]).abs()).sum() / pts["n"].sum())
        reliability += [
            {"config_id": cid, "bin": int(b), "conf": c, "freq": f, "n": int(n), "ece": ece}
            for b, c, f, n in zip(pts.index, pts["conf"], pts["freq"], pts["n"])
        ]
        for column in LOSS_COLUMNS:
            stats = history_stats(group, column)
            for epoch, mean, std in [] if stats is None else stats.itertuples():
                loss.append(
                    {"config_id": cid, "loss": column, "epoch": epoch, "mean": mean, "std": std}
                )
    columns = {
        "roc": ["config_id", "point", "fpr", "tpr", "auc"],
        "confusion": ["config_id", "true", "pred", "count"],
        "reliability_pooled": ["config_id", "bin", "conf", "freq", "n", "ece"],
        "loss_curves": ["config_id", "loss", "epoch", "mean", "std"],
    }
    rows = {"roc": roc, "confusion": confusion, "reliability_pooled": reliability}
    rows["loss_curves"] = loss
    return {name: pd.DataFrame(rows[name], columns=cols) for name, cols in columns.items()}
