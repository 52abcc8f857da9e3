"""Tuned probe: logistic regression whose C is chosen by patient-grouped CV of the training set."""

from __future__ import annotations

from breastbench.modes.registry import Mode, register_mode


def fit_predict(x_train, y_train, groups, x_test, *, seed, num_classes, info):
    """Class probabilities of ``x_test`` from the inner-validated logistic probe."""
    from breastbench.protocols.tuned import tuned_linear_probe

    probs, chosen = tuned_linear_probe(x_train, y_train, groups, x_test, seed=seed)
    info.update(chosen_C=float(chosen), selection="inner patient-grouped CV of the training fold")
    return probs


MODE = register_mode(Mode.probe_like("tuned_probe", "tuned probe", fit_predict))
