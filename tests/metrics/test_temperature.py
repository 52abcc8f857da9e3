"""Temperature scaling: T is scipy's NLL minimiser, and it fixes an over-confident model."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import expit, softmax
from sklearn.metrics import log_loss

from breastbench.metrics.calibration import calibration_metrics
from breastbench.metrics.temperature import (
    fit_temperature,
    log_scores,
    nll,
    scaled_probabilities,
)


def _by_hand(z: np.ndarray, y: np.ndarray) -> float:
    """An independent fit: L-BFGS-B on beta = 1/T of scikit-learn's log loss."""
    n_classes = max(2, z.shape[1])

    def loss(beta):
        if z.shape[1] == 1:
            p1 = expit(z[:, 0] * beta[0])
            p = np.column_stack([1 - p1, p1])
        else:
            p = softmax(z * beta[0], axis=1)
        return log_loss(y, p, labels=list(range(n_classes)))

    res = minimize(loss, x0=[1.0], method="L-BFGS-B", bounds=[(1e-2, 1e2)], tol=1e-14)
    return 1.0 / float(res.x[0])


@pytest.mark.parametrize("n_classes", [1, 3, 4])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fitted_t_equals_a_scipy_minimiser_of_the_validation_nll(n_classes, seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=rng.uniform(0.5, 4.0), size=(80, n_classes))
    y = rng.integers(0, max(2, n_classes), size=80)
    y[: max(2, n_classes)] = np.arange(max(2, n_classes))  # every class present
    # labels that agree with the scores more often than chance, so T is finite
    agree = rng.random(80) < 0.6
    y[agree] = (z[agree, 0] > 0).astype(int) if n_classes == 1 else z[agree].argmax(1)
    t = fit_temperature(z, y)
    assert t == pytest.approx(_by_hand(z, y), rel=1e-4)
    # the minimum: no nearby T does better
    assert nll(z, y, t) <= min(nll(z, y, t * 1.01), nll(z, y, t / 1.01))


def test_sigmoid_logit_and_its_softmax_pair_give_one_temperature():
    rng = np.random.default_rng(3)
    z = rng.normal(scale=3, size=(60, 1))
    y = (rng.random(60) < expit(z[:, 0] / 3)).astype(int)
    pair = np.column_stack([np.zeros(60), z[:, 0]])
    assert fit_temperature(z, y) == pytest.approx(fit_temperature(pair, y), rel=1e-9)
    np.testing.assert_allclose(scaled_probabilities(z, 2.0)[:, 1], expit(z[:, 0] / 2.0))


def test_log_probabilities_scale_like_the_logits_they_came_from():
    rng = np.random.default_rng(4)
    z = rng.normal(size=(30, 3))
    np.testing.assert_allclose(
        scaled_probabilities(log_scores(softmax(z, axis=1)), 1.7),
        softmax(z / 1.7, axis=1),
        atol=1e-12,
    )


@pytest.mark.parametrize("n_classes", [2, 3])
def test_an_over_confident_model_is_better_calibrated_after_scaling(n_classes):
    rng = np.random.default_rng(5)
    n = 4000
    true_logits = rng.normal(scale=1.5, size=(n, n_classes))
    y = np.array([rng.choice(n_classes, p=p) for p in softmax(true_logits, axis=1)])
    model = 4.0 * true_logits  # four times too sure of itself
    val, test = np.arange(n) < n // 2, np.arange(n) >= n // 2
    t = fit_temperature(model[val], y[val])  # fitted on the validation half only
    assert t == pytest.approx(4.0, rel=0.15)
    raw = calibration_metrics(y[test], softmax(model[test], axis=1), n_classes)
    scaled = calibration_metrics(y[test], scaled_probabilities(model[test], t), n_classes)
    assert scaled["ece"] < raw["ece"] / 3
    assert scaled["nll"] < raw["nll"]
    # the arg-max (the predicted class) never changes
    assert (scaled_probabilities(model[test], t).argmax(1) == model[test].argmax(1)).all()


def test_empty_validation_is_refused():
    with pytest.raises(ValueError, match="at least one validation row"):
        fit_temperature(np.zeros((0, 2)), np.zeros(0, dtype=int))
