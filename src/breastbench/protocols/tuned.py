"""Tuned linear probe: logistic regression whose C is chosen inside the training fold only.

The grid is ``C_GRID`` (45 log-spaced values, 1e-6 to 1e5, as Patho-Bench searches). Each C is
scored by balanced accuracy on an inner patient-grouped split of the training fold
(``StratifiedGroupKFold`` on patient ids, ``inner_folds`` splits); the best mean wins (ties ->
the smaller C, i.e. stronger regularisation), then the probe is refit on the whole training
fold. The function takes test features only, never test labels, so the choice cannot see them.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedGroupKFold

from breastbench.errors import UserError

C_GRID = tuple(float(c) for c in np.logspace(-6, 5, 45))


def _fit(x, y, c: float, max_iter: int) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=max_iter).fit(x, y)


def tuned_linear_probe(
    train_x,
    train_y,
    train_groups,
    test_x,
    grid=C_GRID,
    inner_folds: int = 3,
    seed: int = 0,
    max_iter: int = 1000,
) -> tuple[np.ndarray, float]:
    """(test probabilities (N_test, C), chosen C) for an L2 logistic-regression probe."""
    x, y = np.asarray(train_x, dtype=np.float64), np.asarray(train_y).astype(int)
    groups = np.asarray(train_groups).astype(str)
    n_groups = len(np.unique(groups))
    if n_groups < 2 or len(np.unique(y)) < 2:
        raise UserError(
            "the tuned probe needs at least 2 patients and 2 classes in the training fold"
        )
    splitter = StratifiedGroupKFold(
        n_splits=min(inner_folds, n_groups), shuffle=True, random_state=seed
    )
    splits = [(a, b) for a, b in splitter.split(x, y, groups) if len(np.unique(y[a])) > 1]
    if not splits:
        raise UserError("no inner split of the training fold has 2 classes; lower inner_folds")
    scores = []
    for c in grid:
        fold_scores = [
            balanced_accuracy_score(y[b], _fit(x[a], y[a], c, max_iter).predict(x[b]))
            for a, b in splits
        ]
        scores.append(np.mean(fold_scores))
    best = float(grid[int(np.argmax(scores))])
    model = _fit(x, y, best, max_iter)
    probs = np.zeros((len(test_x), int(y.max()) + 1))
    probs[:, model.classes_] = model.predict_proba(np.asarray(test_x, dtype=np.float64))
    return probs, best
