"""kNN and SimpleShot probes equal scikit-learn / a direct NumPy computation."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from breastbench.errors import UserError
from breastbench.protocols.probes import knn_probe, simpleshot_probe


def features(n=60, d=16, c=3, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    centres = rng.normal(size=(c, d)) * 2
    return centres[y] + rng.normal(size=(n, d)), y


@pytest.mark.parametrize("weights", ["uniform", "distance"])
@pytest.mark.parametrize("k", [1, 5, 20])
def test_knn_equals_sklearn(k, weights):
    x, y = features()
    tx, _ = features(n=25, seed=1)
    ref = KNeighborsClassifier(n_neighbors=k, metric="cosine", weights=weights, algorithm="brute")
    expected = ref.fit(x, y).predict_proba(tx)
    np.testing.assert_allclose(knn_probe(x, y, tx, k=k, weights=weights), expected, atol=1e-10)


def test_knn_caps_k_and_pads_classes():
    x, y = features(n=6, c=2)
    probs = knn_probe(x, y, x[:2], k=50, num_classes=3)
    assert probs.shape == (2, 3) and np.allclose(probs.sum(1), 1) and (probs[:, 2] == 0).all()


def test_simpleshot_equals_numpy():
    x, y = features()
    tx, _ = features(n=25, seed=1)
    mean = x.mean(0)
    z = (x - mean) / np.linalg.norm(x - mean, axis=1, keepdims=True)
    protos = np.stack([z[y == c].mean(0) for c in range(3)])
    protos /= np.linalg.norm(protos, axis=1, keepdims=True)
    q = (tx - mean) / np.linalg.norm(tx - mean, axis=1, keepdims=True)
    logits = q @ protos.T / 0.5
    expected = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    probs = simpleshot_probe(x, y, tx, temperature=0.5)
    np.testing.assert_allclose(probs, expected, atol=1e-12)
    # nearest prototype = argmax of cosine similarity, whatever the temperature
    assert (simpleshot_probe(x, y, tx, temperature=3).argmax(1) == (q @ protos.T).argmax(1)).all()


def test_probe_errors_are_one_line():
    x, y = features()
    with pytest.raises(UserError, match="one width"):
        knn_probe(x, y, x[:, :3])
    with pytest.raises(UserError, match="weights"):
        knn_probe(x, y, x, weights="gaussian")
    with pytest.raises(UserError, match="every class"):
        simpleshot_probe(x, np.where(y == 1, 0, y), x, num_classes=3)


def test_knn_on_a_one_shot_support_with_both_classes_is_never_constant():
    """With k = min(20, smallest class) a 12-image 1-shot support never votes its class shares."""
    from breastbench.protocols.probes import knn_k, knn_probe

    for seed in range(20):
        rng = np.random.default_rng(seed)
        n_per = int(rng.integers(2, 10))  # images of the one patient per class
        train_y = np.repeat([0, 1], [n_per, 12 - n_per])
        centres = rng.normal(size=(2, 16))
        train_x = centres[train_y] + 0.8 * rng.normal(size=(12, 16))
        test_y = rng.integers(0, 2, 40)
        test_x = centres[test_y] + 0.8 * rng.normal(size=(40, 16))
        k = knn_k(train_y)
        assert k == min(n_per, 12 - n_per)
        prob = knn_probe(train_x, train_y, test_x, k=k)
        assert np.ptp(prob[:, 1]) > 0, seed
        # the old rule (k = min(20, support size)) was constant: the support's class shares
        old = knn_probe(train_x, train_y, test_x, k=min(20, len(train_y)))
        assert np.ptp(old[:, 1]) == 0
    assert knn_k(np.repeat([0, 1], 50)) == 20  # full folds keep k = 20
