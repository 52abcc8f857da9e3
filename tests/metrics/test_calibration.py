"""Calibration metrics against by-hand loops, scikit-learn and torchmetrics."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, log_loss

from breastbench.metrics.calibration import calibration_metrics


def _by_hand(y, p, bins=15):
    pred = np.where(p.shape[1] == 2, (p[:, 1] >= 0.5).astype(int), p.argmax(axis=1))
    conf = p[np.arange(len(p)), pred]
    right = (pred == y).astype(float)
    ece, mce = 0.0, 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = (conf >= lo) & ((conf < hi) if b < bins - 1 else (conf <= hi))
        if inside.any():
            gap = abs(right[inside].mean() - conf[inside].mean())
            ece += inside.sum() / len(y) * gap
            mce = max(mce, gap)
    order = np.argsort(conf, kind="stable")
    mass = sum(
        len(part) / len(y) * abs(right[part].mean() - conf[part].mean())
        for part in np.array_split(order, bins)
    )
    return ece, mce, mass


def _random_case(rng, c):
    n = int(rng.integers(30, 200))
    logits = rng.normal(size=(n, c)) * rng.uniform(0.5, 3)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return rng.integers(0, c, n), p


@pytest.mark.parametrize("c", [2, 4])
def test_calibration_metrics_equal_by_hand_and_sklearn(c):
    rng = np.random.default_rng(c)
    for _ in range(25):
        y, p = _random_case(rng, c)
        got = calibration_metrics(y, p if c > 2 else p[:, 1], c)
        ece, mce, mass = _by_hand(y, p)
        assert got["ece"] == pytest.approx(ece, abs=1e-12)
        assert got["mce"] == pytest.approx(mce, abs=1e-12)
        assert got["ece_equal_mass"] == pytest.approx(mass, abs=1e-12)
        assert got["nll"] == pytest.approx(log_loss(y, p, labels=list(range(c))), abs=1e-10)
        onehot = np.eye(c)[y]
        assert got["brier"] == pytest.approx(0.5 * ((p - onehot) ** 2).sum(axis=1).mean())
        if c == 2:
            assert got["brier"] == pytest.approx(brier_score_loss(y, p[:, 1]), abs=1e-12)


@pytest.mark.parametrize("c", [2, 3])
def test_ece_and_mce_equal_torchmetrics(c):
    torch = pytest.importorskip("torch")
    tm = pytest.importorskip("torchmetrics.functional.classification")
    rng = np.random.default_rng(10 + c)
    for _ in range(20):
        y, p = _random_case(rng, c)
        got = calibration_metrics(y, p, c)
        for norm, name in (("l1", "ece"), ("max", "mce")):
            want = tm.multiclass_calibration_error(
                torch.tensor(p), torch.tensor(y), num_classes=c, n_bins=15, norm=norm
            )
            assert got[name] == pytest.approx(float(want), abs=1e-6)  # torchmetrics: float32
