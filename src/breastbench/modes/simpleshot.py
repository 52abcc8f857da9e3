"""SimpleShot: nearest class mean of centred, L2-normalised features, a softmax over distances."""

from __future__ import annotations

from breastbench.modes.registry import Mode, register_mode


def fit_predict(x_train, y_train, groups, x_test, *, seed, num_classes, info):
    """Class probabilities of ``x_test`` by its distance to the training class means."""
    from breastbench.protocols.probes import SIMPLESHOT_TEMPERATURE, simpleshot_probe

    info.update(temperature=SIMPLESHOT_TEMPERATURE)
    return simpleshot_probe(
        x_train, y_train, x_test, temperature=SIMPLESHOT_TEMPERATURE, num_classes=num_classes
    )


MODE = register_mode(Mode.probe_like("simpleshot", "SimpleShot", fit_predict))
