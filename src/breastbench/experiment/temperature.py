"""The ``calibration:`` axis: a run's test probabilities, temperature-scaled on its validation rows.

A run keyed ``calibration: temperature`` uses the model of its raw twin: the grid puts the
scaled run right after its twin, and the local executor hands the twin's fitted model over
(:func:`remember`, :func:`reuse`); where it cannot (another process ran the twin, ``--only``
picked the scaled run alone) the run trains, fits its probe or builds its zero-shot head
exactly as the twin does, from the same seed. It then fits one scalar T on the inner
validation split of its training patients (``training.val_fraction``, patient-grouped, the
split early stopping uses) with :func:`breastbench.metrics.temperature.fit_temperature` and
divides its test logits by T. Test rows never reach the fit: :func:`calibrate` hands the
fitter the validation rows' scores and labels only. ``run.json`` records T and the split
(``temperature``), the checkpoint carries T, and ``breastbench predict`` applies it.
"""

from __future__ import annotations

import time

import numpy as np

from breastbench.errors import UserError


def check_calibration(cfg) -> None:
    """``calibration:`` lists known methods once; temperature needs a validation split."""
    from breastbench.experiment.sections import check_unique

    check_unique(cfg.calibration, "calibration")
    if not cfg.calibration:
        raise UserError("calibration: list at least one of none, temperature (default: [none])")
    if "temperature" in cfg.calibration and cfg.training.val_fraction <= 0:
        raise UserError(
            "calibration: temperature is fitted on the inner validation split, and "
            "training.val_fraction is 0; set training.val_fraction (e.g. 0.2) or drop "
            "temperature from calibration"
        )


def remember(ctx, spec, built, fitted) -> None:
    """Keep a raw run's fit for its temperature-scaled twin, next in the grid (one slot)."""
    wanted = spec.key.calibration is None and spec.key.shots is None  # support sets: no twin
    wanted = wanted and "temperature" in ctx.cfg.calibration
    ctx.twin = (spec.run_id, built, fitted) if wanted else None


def reuse(ctx, spec):
    """(built, fitted) of this scaled run's raw twin when it was the last run here, else None.

    The fitted record is a copy that says whose fit it is and took no fitting time here.
    """
    twin, ctx.twin = ctx.twin, None
    if spec.key.calibration is None or twin is None:
        return None
    from dataclasses import replace

    run_id, built, fitted = twin
    if run_id != replace(spec.key, calibration=None).run_id:
        return None
    from breastbench.experiment.train import FitResult

    now = time.perf_counter()
    result = FitResult(fitted.result.history, fitted.result.best_epoch, 0.0)
    return replace(built, t_model=now, t_data=now), replace(fitted, result=result, fit_of=run_id)


def divide(logits, temperature: float | None):
    """``logits / T`` (unchanged, the same object, when T is None)."""
    return logits if temperature is None else logits / float(temperature)


def scale_probe(probs: np.ndarray, temperature: float | None) -> np.ndarray:
    """A probe's probabilities with T applied to their log (unchanged when T is None)."""
    if temperature is None:
        return probs
    from breastbench.metrics.temperature import log_scores, scaled_probabilities

    return scaled_probabilities(log_scores(probs), temperature)


def _scores(ctx, built, fitted, rows: np.ndarray):
    """Scores of ``rows``: the model's logits, or a probe's log-probabilities (float64)."""
    from breastbench.metrics.temperature import log_scores

    if fitted.fitted_probe is not None:
        x = built.source.data.float().numpy()[np.asarray(rows)]
        return log_scores(fitted.fitted_probe.predict(x, {}))
    from breastbench.experiment.train import predict_logits

    batch = max(fitted.micro.chosen, 64)
    return predict_logits(built.model, built.source, rows, batch, ctx.device, ctx.cfg.training.amp)


def calibrate(ctx, spec, built, fitted, data) -> tuple[np.ndarray, dict | None]:
    """The run's test probabilities and its ``temperature`` record (None for a raw run).

    ``data`` is (df, targets, classes, train_idx, val_idx, test_idx); T is fitted on
    ``val_idx`` alone. A raw run's probabilities come back untouched.
    """
    if spec.key.calibration is None:
        return fitted.probs, None
    from breastbench.experiment.train import probabilities
    from breastbench.metrics.temperature import LOG_T_BOUNDS, fit_temperature, nll

    df, targets, _, _, val_idx, _ = data
    if val_idx is None or len(val_idx) == 0:
        raise UserError(
            f"calibration: temperature needs an inner validation split, and run {spec.run_id} "
            "has none; set training.val_fraction (e.g. 0.2)"
        )
    val = _scores(ctx, built, fitted, val_idx)
    y_val = np.asarray(targets)[np.asarray(val_idx)]
    val64 = np.asarray(val, dtype=np.float64)
    t = fit_temperature(val64, y_val)
    if fitted.fitted_probe is not None:
        probs = scale_probe(fitted.probs, t)
    else:
        probs = probabilities(divide(fitted.logits, t))
    record = {
        "method": "temperature",
        "temperature": t,
        "fitted_on": "inner validation split of the training patients",
        "n_val": int(len(val_idx)),
        "val_patients": int(df.iloc[np.asarray(val_idx)]["patient_id"].nunique()),
        "val_nll_raw": nll(val64, y_val),
        "val_nll_scaled": nll(val64, y_val, t),
        "at_bound": bool(np.isclose(np.log(t), LOG_T_BOUNDS).any()),  # no minimum inside
        "scores": "log-probabilities" if fitted.fitted_probe is not None else "logits",
        "model": f"the fit of {fitted.fit_of}" if fitted.fit_of else "its own fit (same seed)",
    }
    return probs, record
