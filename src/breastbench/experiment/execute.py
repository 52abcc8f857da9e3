"""Execute one :class:`RunSpec`: split -> build -> mode.fit -> write.

:func:`~breastbench.experiment.runsplit.split` gives the run's table and indices,
:func:`~breastbench.experiment.build.build` the model, its preprocessing and the input the mode
reads (the cache group of :mod:`breastbench.experiment.cachegroup`),
:func:`fit_mode` fits the run's :class:`~breastbench.modes.Mode` (the trainer for a gradient
mode, the mode's ``fit_predict`` on frozen features for a probe-like one) and :func:`execute`
writes predictions, metrics and ``run.json`` (assembled by :func:`run_info`).

Everything the run writes goes through :class:`~breastbench.results.RunFolder`, atomically, so
a run folder either is complete or does not exist. Long runs save a resume state (the folder's
``partial_path``) after each epoch; a restarted run picks it up and, because every random draw
is derived from (seed, epoch), ends with the same numbers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from breastbench import jsonio
from breastbench.experiment.build import Built, build
from breastbench.experiment.context import RunContext
from breastbench.experiment.grid import RunSpec
from breastbench.experiment.modefit import fit_probe, fitted_probe, in_context, micro_batch
from breastbench.experiment.outputs import predictions_table
from breastbench.experiment.provenance import (
    device_info,
    git_sha,
    package_versions,
    seed_everything,
)
from breastbench.experiment.runsplit import split
from breastbench.experiment.settings import recorded_settings
from breastbench.experiment.temperature import calibrate, remember, reuse
from breastbench.experiment.train import FitResult, fit, predict_logits, probabilities
from breastbench.modes import get_mode

__all__ = ["Built", "Fitted", "RunContext", "build", "execute", "fit_mode", "run_info", "split"]


@dataclass
class Fitted:
    """What fitting the run's mode gave: test probabilities and how they were obtained."""

    probs: np.ndarray
    result: FitResult
    micro: object  # microbatch.MicroBatch
    probe: dict = field(default_factory=dict)  # a probe-like mode's choices (k, C, ...)
    examples: dict | None = None  # in-context examples of a generative zero-shot
    fitted_probe: object | None = None  # modes.fitted.FittedProbe, for the checkpoint
    logits: object | None = None  # test logits (torch) of a model that gives them
    temperature: dict | None = None  # calibration: temperature's T and its fitting split
    fit_of: str | None = None  # the raw twin whose fit a temperature-scaled run reuses


def fit_mode(ctx: RunContext, spec: RunSpec, built: Built, data, resume, on_epoch) -> Fitted:
    """Fit the run's mode and predict its test rows.

    ``data`` is (df, targets, classes, train_idx, val_idx, test_idx). A probe-like mode fits its
    ``fit_predict`` on the frozen features; every other mode goes through the trainer.
    """
    cfg, mc, mode = ctx.cfg, spec.entry, get_mode(spec.key.mode)
    df, targets, classes, train_idx, val_idx, test_idx = data
    model, source = built.model, built.source
    mon = ctx.monitor
    micro_info = micro_batch(ctx, spec, model, source, train_idx)
    micro = micro_info.chosen
    lr = mc.lr.get(spec.key.mode) if isinstance(mc.lr, dict) else mc.lr
    examples = None
    if mode.state == "zero_shot" and spec.key.shots is not None:  # generative in-context learning
        examples = in_context(model, source, df, train_idx, spec)
    if mode.probe:
        t0 = time.perf_counter()
        info: dict = {}
        fitted = fitted_probe(mode, spec, source, df, targets, train_idx, len(classes))
        probs = fitted.predict(source.data.float().numpy()[np.asarray(test_idx)], info)
        result = FitResult([], None, time.perf_counter() - t0)
        return Fitted(probs, result, micro_info, info, examples, fitted)
    result = fit(
        model,
        source,
        train_idx,
        cfg.training,
        seed=spec.seed,
        device=ctx.device,
        micro_batch=micro,
        lr=lr or cfg.training.lr,
        test_idx=test_idx,
        val_idx=val_idx,
        resume=resume,
        on_epoch=on_epoch,
        on_step=mon.step if mon is not None else None,
    )
    logits = predict_logits(model, source, test_idx, max(micro, 64), ctx.device, cfg.training.amp)
    return Fitted(probabilities(logits), result, micro_info, examples=examples, logits=logits)


def execute(spec: RunSpec, ctx: RunContext) -> Path:
    """Run one unit and write its folder atomically; return the final folder."""
    cfg = ctx.cfg
    folder = ctx.folder
    key = spec.key
    if folder.is_complete(key):
        return folder.path(key)
    t_start = time.perf_counter()
    seed_everything(spec.seed)
    full = ctx.manifests[key.dataset]
    classes = list(full.attrs["classes"])
    df, train_idx, val_idx, test_idx = split(spec, ctx)
    targets = df["target"].to_numpy()

    twin = reuse(ctx, spec)  # a scaled run takes its raw twin's fit when that ran just before
    built = twin[0] if twin else build(ctx, spec, df, targets, classes)
    model, prep, source = built.model, built.prep, built.source

    partial = folder.partial_path(key)
    resume, resumes = _resume(partial, ctx, spec)
    on_epoch = _epoch_hook(ctx, spec, partial, resumes)
    data = (df, targets, classes, train_idx, val_idx, test_idx)
    fitted = twin[1] if twin else fit_mode(ctx, spec, built, data, resume, on_epoch)
    remember(ctx, spec, built, fitted)
    fitted.probs, fitted.temperature = calibrate(ctx, spec, built, fitted, data)  # T: val rows
    probs, result = fitted.probs, fitted.result
    t_end = time.perf_counter()

    pred_df = predictions_table(df.iloc[test_idx], probs, classes, key.fold)
    from breastbench.metrics import compute_metrics

    y = pred_df["target"].to_numpy()
    metric_warnings: list[str] = []  # e.g. "no sample predicted positive": kept in run.json
    metrics = compute_metrics(
        y, probs[:, 1] if len(classes) == 2 else probs, classes, warnings_out=metric_warnings
    )
    robust = None
    t_robust = time.perf_counter()
    if cfg.robustness is not None and key.calibration is None:  # raw runs' scores only
        from breastbench.experiment.robustness import predict_perturbed

        robust = predict_perturbed(
            ctx, spec, model, df, targets, prep, source, train_idx, test_idx, classes, fit_probe
        )
    t_robust = time.perf_counter() - t_robust
    from breastbench.metrics.calibration import calibration_metrics

    metrics.update(calibration_metrics(y, probs, len(classes)))
    timings = {
        "model_build_s": built.t_model - t_start,
        "data_s": built.t_data - built.t_model,
        "fit_s": result.seconds,
        "predict_s": t_end - built.t_data - result.seconds,
        "robustness_s": t_robust,
    }
    rows = (df, train_idx, val_idx, test_idx)
    info = run_info(ctx, spec, built, rows, fitted, resumes, metric_warnings, timings)
    info["timings"]["total_s"] = time.perf_counter() - t_start
    final = folder.write_run(
        key,
        info,
        pred_df,
        result.history,
        metrics,
        _checkpoint_writer(cfg, spec, built, classes, fitted),
        robustness=robust,
    )
    if partial.exists():
        partial.unlink()
    if ctx.monitor is not None:
        ctx.monitor.run_end(spec.run_id, time.perf_counter() - t_start, metrics, final)
    return final


def _resume(partial: Path, ctx: RunContext, spec: RunSpec):
    """The saved resume state (or None) and the list of this run's resumes; tells the monitor."""
    cfg, mon = ctx.cfg, ctx.monitor
    resume = None
    if partial.exists():
        resume = torch.load(partial, map_location=ctx.device, weights_only=True)
    done_epochs = int(resume["epoch"]) + 1 if resume else 0
    resumes = list((resume or {}).get("resumes", []))  # every resume of this run, kept
    if resume:
        from breastbench.experiment.monitor import stamp

        resumes.append({"epoch": done_epochs + 1, "of": cfg.training.epochs, "time": stamp()})
    if mon is not None:
        params = {"key": spec.key.to_dict(), **recorded_settings(cfg, spec.entry, spec.key.mode)}
        mon.run_start(spec.run_id, done_epochs, cfg.training.epochs, params)
    return resume, resumes


def _epoch_hook(ctx: RunContext, spec: RunSpec, partial: Path, resumes: list):
    """The trainer's per-epoch callback: progress, and a resume state for long runs."""
    cfg, mon = ctx.cfg, ctx.monitor
    last_save = [time.perf_counter()]

    def on_epoch(epoch: int, row: dict, state) -> None:
        if mon is not None:
            mon.epoch_end(epoch, row)
        # Resume checkpoints pay off for long runs only: a run that reaches this epoch in
        # less than checkpoint_seconds simply restarts if interrupted.
        every, min_s = cfg.training.checkpoint_every, cfg.training.checkpoint_seconds
        due = every and (epoch + 1) % every == 0 and epoch + 1 < cfg.training.epochs
        if due and time.perf_counter() - last_save[0] >= min_s:
            # a stop mid-write (Ctrl-C, SIGTERM) leaves the previous state, no temporary
            payload = {**state(), "resumes": resumes}
            jsonio.atomic_write(partial, lambda tmp: torch.save(payload, tmp))
            last_save[0] = time.perf_counter()
            if mon is not None:
                mon.checkpoint(spec.run_id, epoch + 1)

    return on_epoch


def run_info(ctx, spec, built, rows, fitted, resumes, metric_warnings, timings) -> dict:
    """The readable record of one run (``run.json``): its key, data, model, fit and settings."""
    from breastbench.metrics.calibration import calibration_settings

    cfg, mc, model, source = ctx.cfg, spec.entry, built.model, built.source
    df, train_idx, val_idx, test_idx = rows
    full = ctx.manifests[spec.key.dataset]
    return {
        **spec.record(cfg),
        "model_label": mc.display,
        "model_name": mc.name,
        "model_family": model.info.family,
        "text_context": spec.text,
        "preprocessing": built.prep.to_dict(),
        "task": full.attrs.get("task"),
        "classes": list(full.attrs["classes"]),
        "train_members": full.attrs.get("members"),  # a pooled (union) training set's datasets
        "n_train": int(len(train_idx)),
        "n_val": int(0 if val_idx is None else len(val_idx)),
        "n_test": int(len(test_idx)),
        "best_epoch": fitted.result.best_epoch,
        "resumes": resumes,
        "probe": fitted.probe,
        "calibration": calibration_settings(),
        "in_context": fitted.examples,
        **({"temperature": fitted.temperature} if fitted.temperature else {}),
        "support": {
            "shots": spec.key.shots,
            "draw": spec.key.draw,
            "patients": int(df.iloc[train_idx]["patient_id"].nunique()),
            "patient_ids": sorted(df.iloc[train_idx]["patient_id"].astype(str).unique()),
        }
        if spec.key.shots is not None
        else None,
        "input_path": type(source).__name__,
        "micro_batch": fitted.micro.to_dict(),
        "metric_warnings": metric_warnings,
        "trainable": model.trainable_report(),
        "synthetic": bool(cfg.synthetic or full.attrs.get("synthetic", False)),
        "random_weights": str(model.weights_source) in ("random", "None"),
        "weights": str(model.weights_source),
        "config": {**recorded_settings(cfg, mc, spec.key.mode), "experiment": cfg.name},
        "versions": dict(package_versions()),
        "git_sha": git_sha(),
        "device": device_info(ctx.device),
        "timings": dict(timings),
    }


def _checkpoint_writer(cfg, spec: RunSpec, built: Built, classes, fitted: Fitted):
    """``write(path)`` saving the run's checkpoint (a probe's features too), or None."""
    save = cfg.training.save_checkpoints == "all" or (
        cfg.training.save_checkpoints == "first_fold" and spec.key.fold in (0, None)
    )
    if not save:
        return None
    from breastbench.models import save_checkpoint

    def write_ckpt(path: Path) -> None:
        extra = None
        if fitted.fitted_probe is not None:  # predict refits the probe on these features
            path.mkdir(parents=True, exist_ok=True)
            extra = {"probe": fitted.fitted_probe.save(path)}
        if fitted.temperature:  # predict divides the logits by the run's T
            extra = {**(extra or {}), "temperature": fitted.temperature["temperature"]}
        save_checkpoint(built.model, path, classes=classes, extra=extra, preprocessing=built.prep)

    return write_ckpt
