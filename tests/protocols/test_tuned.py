"""Tuned probe: the choice of C uses the training fold only."""

from __future__ import annotations

import inspect

import numpy as np

from breastbench.protocols.tuned import C_GRID, tuned_linear_probe


def data(seed=0, n=80):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 8)) + y[:, None] * 0.8
    groups = np.repeat(np.arange(n // 2), 2)
    return x, y, groups


def test_grid_and_signature_take_no_test_labels():
    assert len(C_GRID) == 45 and np.isclose(C_GRID[0], 1e-6) and np.isclose(C_GRID[-1], 1e5)
    params = inspect.signature(tuned_linear_probe).parameters
    assert "test_y" not in params and list(params)[:4] == [
        "train_x",
        "train_y",
        "train_groups",
        "test_x",
    ]


def test_poisoned_test_labels_leave_choice_unchanged():
    x, y, g = data()
    train, test = g % 4 != 0, g % 4 == 0
    grid = C_GRID[::4]
    probs, c = tuned_linear_probe(x[train], y[train], g[train], x[test], grid=grid)
    # poisoning the test labels cannot reach the function; a new test set of shuffled labels
    # and reversed rows gives the same choice and the same (reordered) probabilities
    rng = np.random.default_rng(1)
    y_poison = rng.permutation(y)  # noqa: F841  (never passed: the function takes no test labels)
    probs2, c2 = tuned_linear_probe(x[train], y[train], g[train], x[test][::-1], grid=grid)
    assert c == c2 and c in grid
    np.testing.assert_allclose(probs2[::-1], probs)
    assert probs.shape == (test.sum(), 2) and np.allclose(probs.sum(1), 1)


def test_choice_equals_sklearn_grid_search_on_training_fold():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold

    x, y, g = data(seed=2)
    train, test = g % 4 != 0, g % 4 == 0
    grid = C_GRID[::4]
    _, c = tuned_linear_probe(x[train], y[train], g[train], x[test], grid=grid, seed=5)
    cv = StratifiedGroupKFold(n_splits=3, shuffle=True, random_state=5)
    search = GridSearchCV(
        LogisticRegression(max_iter=1000),
        {"C": list(grid)},
        scoring="balanced_accuracy",
        cv=list(cv.split(x[train], y[train], g[train].astype(str))),  # ids are strings
    ).fit(x[train], y[train])
    assert c == search.best_params_["C"]
