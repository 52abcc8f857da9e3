"""The analysis writes the points of the report's pooled curves; the report draws them as read.

References: scikit-learn's ``roc_curve``/``roc_auc_score`` and ``confusion_matrix`` on the
pooled table built by hand (folds stacked; external seeds averaged per image).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import confusion_matrix, roc_auc_score, roc_curve

from breastbench.report.curves import Curves
from breastbench.results import RunFolder, RunKey
from breastbench.results.analysis import write_summary

sys.path.insert(0, str(Path(__file__).parent))
from statfolder import fold_frame, write_grid, write_run  # noqa: E402


def _folder(tmp_path):
    rng = np.random.default_rng(3)
    keys, pooled = [], {"cv": [], "ext": []}
    for fold in range(3):
        key = RunKey("breakhis", 200, "m", "finetune", "off", fold=fold)
        frame = fold_frame(fold, 20)
        prob = np.clip(0.3 * frame["target"] + rng.uniform(0, 0.7, len(frame)), 0, 1)
        write_run(tmp_path, key, frame, prob)
        keys.append(key)
        pooled["cv"].append((frame["target"].to_numpy(), prob))
    ext = fold_frame(9, 30)
    probs = []
    for seed in range(2):
        key = RunKey("breakhis", 200, "m", "finetune", "off", external="bach", seed=seed)
        prob = np.clip(0.4 * ext["target"] + rng.uniform(0, 0.6, len(ext)), 0, 1)
        write_run(tmp_path, key, ext, prob)
        keys.append(key)
        probs.append(prob)
    pooled["ext"] = [(ext["target"].to_numpy(), (probs[0] + probs[1]) / 2)]
    write_grid(tmp_path, keys)
    return keys, pooled


@pytest.mark.parametrize("which", ["cv", "ext"])
def test_roc_and_confusion_points_equal_sklearn_on_the_pooled_table(tmp_path, which):
    keys, pooled = _folder(tmp_path)
    write_summary(tmp_path)
    folder = RunFolder(tmp_path)
    tables = {
        n: pd.read_csv(folder.summary_path(n)) for n in ("roc", "confusion", "reliability_pooled")
    }
    config = keys[0 if which == "cv" else -1].config_id
    y = np.concatenate([t for t, _ in pooled[which]])
    p = np.concatenate([q for _, q in pooled[which]])
    fpr, tpr, auc = Curves(tables).roc(config)
    ref_fpr, ref_tpr, _ = roc_curve(y, p)
    np.testing.assert_array_equal(fpr, ref_fpr)
    np.testing.assert_array_equal(tpr, ref_tpr)
    assert auc == roc_auc_score(y, p)
    counts = Curves(tables).confusion(config, 2)
    if which == "cv":  # stacked folds: each run's own hard predictions
        np.testing.assert_array_equal(counts, confusion_matrix(y, (p >= 0.5).astype(int)))
    assert counts.sum() == len(y)
    pts, ece = Curves(tables).reliability(config)
    assert pts["n"].sum() == len(y)
    assert ece == pytest.approx(
        float((pts["n"] * (pts["conf"] - pts["freq"]).abs()).sum() / pts["n"].sum())
    )


def test_the_report_reads_no_predictions_for_its_curves():
    import inspect

    import breastbench.report.figures as figures

    source = inspect.getsource(figures)
    assert ".predictions" not in source and ".history" not in source
    assert "sklearn" not in source and "pooled_predictions" not in source
