"""Training-free probes on cached features (B, D): cosine kNN and SimpleShot prototypes.

kNN: cosine similarity to every training feature, the ``k`` most similar vote; ``weights="uniform"``
gives each neighbour one vote, ``"distance"`` weights a vote by 1 / cosine distance (as
scikit-learn's ``weights="distance"`` with ``metric="cosine"``). Probabilities are the vote
shares per class, so they equal ``KNeighborsClassifier.predict_proba``.

SimpleShot (Wang et al., 2019, "CL2N"): subtract the mean of the support (training) features,
L2-normalise, average per class, L2-normalise the class means (prototypes); a query goes to the
most similar prototype. Probabilities are a softmax over cosine similarity / ``temperature``.
"""

from __future__ import annotations

import numpy as np

from breastbench.errors import UserError

KNN_WEIGHTS = ("uniform", "distance")
KNN_MAX_K = 20
KNN_K_RULE = f"min({KNN_MAX_K}, images of the support's smallest class)"
SIMPLESHOT_TEMPERATURE = 0.1


def knn_k(train_y, max_k: int = KNN_MAX_K) -> int:
    """The kNN k of a support set: at most ``max_k`` and at most the smallest class's image count.

    A k as large as the support (e.g. k = 20 on a 1-shot support of 12 images) makes every
    query's vote the class shares of the whole support: a constant predictor. With k no larger
    than the smallest class, a query among one class's images can get a unanimous vote.
    """
    counts = np.bincount(np.asarray(train_y).astype(int))
    counts = counts[counts > 0]
    if len(counts) == 0:
        raise UserError("kNN needs a non-empty support set")
    return int(min(max_k, counts.min()))


def _check(train_x, train_y, test_x) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    train_x = np.asarray(train_x, dtype=np.float64)
    test_x = np.asarray(test_x, dtype=np.float64)
    train_y = np.asarray(train_y).astype(int)
    if train_x.ndim != 2 or test_x.ndim != 2 or train_x.shape[1] != test_x.shape[1]:
        raise UserError(
            f"probe features must be (N, D) arrays of one width, got {train_x.shape} and "
            f"{test_x.shape}; pass the cached features of one model"
        )
    if len(train_y) != len(train_x):
        raise UserError(f"got {len(train_y)} labels for {len(train_x)} training features")
    return train_x, train_y, test_x, int(train_y.max()) + 1


def _l2(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def knn_probe(
    train_x, train_y, test_x, k: int = 20, weights: str = "uniform", num_classes: int | None = None
) -> np.ndarray:
    """Class probabilities (N_test, C) from a cosine k-nearest-neighbour vote.

    ``k`` is capped at the number of training samples; ``num_classes`` defaults to
    ``max(train_y) + 1`` (pass it when a support set misses the last class).
    """
    train_x, train_y, test_x, c = _check(train_x, train_y, test_x)
    c = num_classes or c
    if weights not in KNN_WEIGHTS:
        raise UserError(f"knn weights must be one of {KNN_WEIGHTS}, got '{weights}'")
    if k < 1:
        raise UserError(f"knn k must be >= 1, got {k}")
    k = min(int(k), len(train_x))
    sim = _l2(test_x) @ _l2(train_x).T
    # stable sort on -sim: ties keep training order, as scikit-learn's brute-force search does
    order = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    rows = np.arange(len(test_x))[:, None]
    if weights == "uniform":
        w = np.ones(order.shape)
    else:
        dist = 1.0 - sim[rows, order]
        zero = dist <= 1e-12
        # exact matches take all the weight, as in scikit-learn
        w = np.where(zero.any(axis=1, keepdims=True), zero.astype(float), 1.0 / (dist + 1e-300))
    probs = np.zeros((len(test_x), c))
    np.add.at(probs, (np.broadcast_to(rows, order.shape), train_y[order]), w)
    return probs / probs.sum(axis=1, keepdims=True)


def simpleshot_prototypes(train_x, train_y, num_classes: int | None = None):
    """(support mean (D,), unit prototypes (C, D)) of SimpleShot's CL2N transform."""
    train_x = np.asarray(train_x, dtype=np.float64)
    train_y = np.asarray(train_y).astype(int)
    c = num_classes or int(train_y.max()) + 1
    mean = train_x.mean(axis=0)
    z = _l2(train_x - mean)
    missing = [i for i in range(c) if not (train_y == i).any()]
    if missing:
        raise UserError(
            f"SimpleShot needs support images of every class; classes {missing} have none"
        )
    protos = np.stack([z[train_y == i].mean(axis=0) for i in range(c)])
    return mean, _l2(protos)


def simpleshot_probe(
    train_x, train_y, test_x, temperature: float = 0.1, num_classes: int | None = None
) -> np.ndarray:
    """Class probabilities (N_test, C): softmax of cosine similarity to centred prototypes / T."""
    train_x, train_y, test_x, c = _check(train_x, train_y, test_x)
    if temperature <= 0:
        raise UserError(f"simpleshot temperature must be > 0, got {temperature}")
    mean, protos = simpleshot_prototypes(train_x, train_y, num_classes or c)
    logits = _l2(test_x - mean) @ protos.T / temperature
    logits -= logits.max(axis=1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=1, keepdims=True)
