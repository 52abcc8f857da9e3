"""kNN probe: majority of the k nearest training features (cosine), k by the documented rule."""

from __future__ import annotations

from breastbench.modes.registry import Mode, register_mode


def fit_predict(x_train, y_train, groups, x_test, *, seed, num_classes, info):
    """Class probabilities of ``x_test`` by its k cosine neighbours in ``x_train``."""
    from breastbench.protocols.probes import KNN_K_RULE, knn_k, knn_probe

    k = knn_k(y_train)
    info.update(k=k, metric="cosine", k_rule=KNN_K_RULE)
    return knn_probe(x_train, y_train, x_test, k=k, num_classes=num_classes)


MODE = register_mode(Mode.probe_like("knn", "kNN", fit_predict))
