"""A learning mode in one file: nearest class centre under the L1 (Manhattan) distance.

The L1 centre of a class is its per-feature median (as scikit-learn's
``NearestCentroid(metric="manhattan")`` takes it); probabilities are a softmax over the negative
distances. Named by a config's ``mode_plugins: [path/to/this file]``.
"""

import numpy as np
from scipy.spatial.distance import cdist
from scipy.special import softmax

from breastbench.modes import Mode, register_mode


def fit_predict(x_train, y_train, groups, x_test, *, seed, num_classes, info):
    """Class probabilities of ``x_test`` by its L1 distance to each class's median feature."""
    centres = np.stack([np.median(x_train[y_train == c], axis=0) for c in range(num_classes)])
    distances = cdist(x_test, centres, metric="cityblock")
    info.update(metric="manhattan", centre="median")
    return softmax(-distances, axis=1)


register_mode(
    Mode(
        "nearest_median_l1",
        "nearest median (L1)",
        state="linear_probe",
        frozen=True,
        input="features",
        requires=("features",),
        fit_predict=fit_predict,
    )
)
