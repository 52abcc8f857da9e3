"""Temperature scaling (Guo et al., 2017): one scalar T > 0 that divides a model's logits.

``softmax(z / T)`` (``sigmoid(z / T)`` for a single binary logit) keeps every prediction's
arg-max and a binary model's ranking, and changes only how confident the probabilities are.
T is the minimiser of the negative log-likelihood of *given* scores and labels: the caller
passes the inner validation split of the training patients, never test rows (the functions
here see nothing else).

Scores are logits: ``(N, 1)`` for a sigmoid head or ``(N, C)`` for a softmax one. A model
that gives probabilities only (a probe) passes :func:`log_scores` of them; the log of a
softmax's probabilities differs from its logits by a per-row constant, so scaling them is the
same operation.
"""

from __future__ import annotations

import numpy as np

# the search interval of log T: T in [1e-2, 1e2] (a model 100 times too sure or too unsure)
LOG_T_BOUNDS = (float(np.log(1e-2)), float(np.log(1e2)))
# probabilities are clipped here before their log (kNN votes are exactly 0 or 1)
PROB_FLOOR = 1e-12


def _two_column(scores: np.ndarray) -> np.ndarray:
    """(N, C) logits; a single sigmoid logit z becomes the softmax pair [0, z]."""
    z = np.asarray(scores, dtype=np.float64)
    if z.ndim == 1:
        z = z[:, None]
    if z.shape[1] == 1:
        z = np.concatenate([np.zeros_like(z), z], axis=1)
    return z


def nll(scores: np.ndarray, y: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``softmax(scores / temperature)`` at labels ``y``."""
    from scipy.special import log_softmax

    z = _two_column(scores) / float(temperature)
    y = np.asarray(y, dtype=int)
    return float(-log_softmax(z, axis=1)[np.arange(len(y)), y].mean())


def fit_temperature(scores: np.ndarray, y: np.ndarray) -> float:
    """The T > 0 minimising :func:`nll` on (``scores``, ``y``): Brent's method on log T.

    The NLL is convex in 1/T, hence unimodal in log T, so the bounded search finds the one
    minimum inside ``LOG_T_BOUNDS`` (a bound when the minimum lies beyond it).
    """
    from scipy.optimize import minimize_scalar

    y = np.asarray(y, dtype=int)
    if len(y) == 0:
        raise ValueError("temperature scaling needs at least one validation row")
    z = _two_column(scores)
    res = minimize_scalar(
        lambda log_t: nll(z, y, float(np.exp(log_t))),
        bounds=LOG_T_BOUNDS,
        method="bounded",
        options={"xatol": 1e-10},
    )
    return float(np.exp(res.x))


def log_scores(probs: np.ndarray) -> np.ndarray:
    """Scores of a model that gives probabilities only: their log (clipped at PROB_FLOOR)."""
    return np.log(np.clip(np.asarray(probs, dtype=np.float64), PROB_FLOOR, 1.0))


def scaled_probabilities(scores: np.ndarray, temperature: float) -> np.ndarray:
    """(N, C) probabilities of ``scores / temperature`` (sigmoid pair or softmax)."""
    from scipy.special import softmax

    return softmax(_two_column(scores) / float(temperature), axis=1)
