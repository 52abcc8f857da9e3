"""Execute one :class:`RunSpec`: split -> build -> mode.fit -> write.

:func:`split` gives the run's table and indices, :func:`build` the model, its preprocessing and
the input the mode reads (the cache group of :mod:`breastbench.experiment.cachegroup`),
:func:`fit_mode` fits the run's :class:`~breastbench.modes.Mode` (the trainer for a gradient
mode, the mode's ``fit_predict`` on frozen features for a probe-like one) and :func:`execute`
writes predictions, metrics and ``run.json`` (assembled by :func:`run_info`).

Everything the run writes goes through :class:`~breastbench.results.RunFolder`, atomically, so
a run folder either is complete or does not exist. Long runs save a resume state (the folder's
``partial_path``) after each epoch; a restarted run picks it up and, because every random draw
is derived from (seed, epoch), ends with the same numbers.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from breastbench import jsonio
from breastbench.errors import UserError
from breastbench.experiment.cachegroup import input_kind
from breastbench.experiment.config import ExperimentConfig, ModelConfig
from breastbench.experiment.grid import RunSpec, shot_draws
from breastbench.experiment.images import ImageStore
from breastbench.experiment.outputs import predictions_table
from breastbench.experiment.provenance import (
    device_info,
    git_sha,
    package_versions,
    seed_everything,
)
from breastbench.experiment.sources import ImageSource, feature_source, vision_source
from breastbench.experiment.temperature import calibrate, remember, reuse
from breastbench.experiment.train import FitResult, fit, predict_logits, probabilities
from breastbench.models.preprocess import Preprocessing
from breastbench.modes import Mode, get_mode
from breastbench.results import RunFolder


@dataclass
class RunContext:
    """What every run of one experiment shares."""

    cfg: ExperimentConfig
    out_dir: Path
    device: torch.device
    manifests: dict[str, pd.DataFrame]  # dataset name -> manifest with folds
    cache_dir: Path
    use_cache: bool = True
    stores: dict = field(default_factory=dict)  # (paths key, size) -> ImageStore, in memory
    monitor: object | None = None  # experiment.monitor.Monitor: progress and run.log
    twin: tuple | None = None  # the last raw run's fit, for its temperature-scaled twin

    def store(self, paths: list[str], prep: Preprocessing) -> ImageStore:
        """One ImageStore per image list and preprocessing, shared by a configuration's folds."""
        key = (hash(tuple(paths)), prep.size, prep.interpolation, prep.stain_norm, prep.resize)
        if key not in self.stores:
            self.stores[key] = ImageStore(
                paths,
                prep.size,
                self.cache_dir,
                prep.interpolation,
                prep.stain_norm,
                resize=prep.resize,
            )
        return self.stores[key]

    @property
    def folder(self) -> RunFolder:
        """The output folder's owner."""
        return RunFolder(self.out_dir)


def subset(df: pd.DataFrame, magnification: int | None) -> pd.DataFrame:
    """The rows of one experiment (one magnification, or all)."""
    if magnification is None:
        return df.reset_index(drop=True)
    return df[df["magnification"] == magnification].reset_index(drop=True)


def external_targets(
    test_df: pd.DataFrame, classes: list[str], label_map: dict | None, name: str
) -> np.ndarray:
    """Map the external dataset's labels onto the training classes (declared, never guessed)."""
    labels = test_df["label"].map(lambda v: (label_map or {}).get(v, v))
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise UserError(
            f"external[{name}]: labels {unknown} have no training class ({classes}); add them "
            "to external.label_map, e.g. Normal: benign"
        )
    return labels.map({c: i for i, c in enumerate(classes)}).to_numpy()


def build_model(spec: RunSpec, mc: ModelConfig, classes: list[str], device: torch.device):
    """Create the model, set its mode, and build a zero-shot text head where asked."""
    from breastbench.models import create

    kwargs = dict(mc.options)
    if mc.input_size:
        kwargs["input_size"] = mc.input_size
    torch.manual_seed(spec.seed)  # random init (tiny models, heads) comes from the run seed
    model = create(mc.name, num_classes=len(classes), weights=mc.weights, **kwargs)
    state = get_mode(spec.mode).state  # the model state the mode needs
    model.set_mode(state)
    if state == "zero_shot" or (state == "linear_probe" and mc.init_head_from_text):
        mag = spec.magnification if mc.magnification_prompts else None
        model.build_zero_shot_head(classes, mc.prompt_set, magnification=mag)
        model.set_mode(state)
    return model.to(device)


def _transforms(prep: Preprocessing, augmentation: str):
    return prep.transform(train=True, augmentation=augmentation), prep.transform(train=False)


def preprocessing(ctx: RunContext, spec: RunSpec, mc: ModelConfig, model) -> Preprocessing:
    """The run's preprocessing record: the model's own plus the experiment's choices."""
    return Preprocessing.of_model(
        model, resize=mc.resize, stain_norm=ctx.cfg.stain_norm, text_context=spec.text
    )


def text_rows(df: pd.DataFrame, spec: RunSpec) -> pd.DataFrame:
    """The manifest rows a text template is filled from; the run's magnification fills gaps."""
    if "magnification" not in df.columns and spec.magnification is not None:
        return df.assign(magnification=spec.magnification)
    return df


def make_source(
    ctx: RunContext,
    spec: RunSpec,
    mc: ModelConfig,
    model,
    df: pd.DataFrame,
    targets: np.ndarray,
    prep: Preprocessing,
    store=None,
):
    """Pick the cheapest input path the protocol allows for this run.

    ``store`` (perturbed test images in memory, see ``robustness``) replaces the run's image
    cache; the input path is chosen the same way, without disk caches.
    """
    own = store is None
    store = ctx.store(df["path"].tolist(), prep) if own else store
    cache_dir = ctx.cache_dir if own else None
    train_tf, eval_tf = _transforms(prep, spec.augmentation)
    texts = prep.texts(text_rows(df, spec), where=f"dataset '{spec.dataset}'")
    kind = input_kind(ctx.cfg, spec)  # the one rule the plan and Ray group caches by
    if get_mode(spec.mode).probe:  # probes need the feature matrix (cached unless --no-cache)
        cache = cache_dir if ctx.use_cache else None
        return feature_source(model, store, targets, eval_tf, ctx.device, cache, texts)
    if ctx.use_cache and kind == "features":
        return feature_source(model, store, targets, eval_tf, ctx.device, cache_dir, texts)
    # VLM LoRA on the decoder and generative zero-shot read the cached vision tokens; where the
    # model's vision side trains after all, its outputs cannot be cached
    if ctx.use_cache and kind == "vision" and not getattr(model, "vision_trainable", False):
        return vision_source(model, store, targets, eval_tf, ctx.device, cache_dir, texts)
    return ImageSource(
        store,
        targets,
        train_tf,
        eval_tf,
        ctx.device,
        _workers(ctx, len(df)) if own else 0,
        spec.seed,
        texts,
        channels_last=ctx.device.type == "cuda" and model.info.family == "cnn",
    )


def micro_batch(ctx: RunContext, spec: RunSpec, mc: ModelConfig, model, source, train_idx):
    """The run's micro-batch (:mod:`breastbench.experiment.microbatch`; ``auto`` probes)."""
    from breastbench.experiment.microbatch import resolve

    batch = ctx.cfg.training.batch_size
    if not get_mode(spec.mode).trains or ctx.cfg.training.epochs == 0 or len(train_idx) == 0:
        configured = None if mc.micro_batch_size == "auto" else mc.micro_batch_size
        return resolve(
            configured,
            batch_size=batch,
            model=None,
            source=None,
            train_idx=None,
            device=ctx.device,
            amp="",
            key_parts={},
            cache_dir=None,
        )
    size = tuple(model.data_config["input_size"][1:])
    key = {
        "model": mc.name,
        "options": sorted(mc.options.items()),
        "mode": spec.mode,
        "input": "x".join(map(str, size)),
        "input_path": type(source).__name__,
    }
    return resolve(
        mc.micro_batch_size,
        batch_size=batch,
        model=model,
        source=source,
        train_idx=train_idx,
        device=ctx.device,
        amp=ctx.cfg.training.amp,
        key_parts=key,
        cache_dir=ctx.cache_dir,
        where=f"models[{spec.model_index}].",
    )


def _workers(ctx: RunContext, n_images: int) -> int:
    """Configured DataLoader workers, else a choice by device and size.

    0 on CPU or for small runs (starting workers costs more than it saves), up to 8 when a GPU
    waits for augmented images.
    """
    n = ctx.cfg.training.num_workers
    if n is not None:
        return n
    if ctx.device.type == "cpu" or n_images < 512:
        return 0
    return min(8, max((os.cpu_count() or 1) - 1, 0))


def inner_validation(df: pd.DataFrame, train_idx: np.ndarray, fraction: float, seed: int):
    """Split training patients into train/validation, grouped and stratified (never test)."""
    if fraction <= 0:
        return train_idx, None
    from sklearn.model_selection import StratifiedGroupKFold

    n_splits = max(2, round(1 / fraction))
    sgkf = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    sub = df.iloc[train_idx]
    tr, va = next(sgkf.split(np.zeros(len(sub)), sub["target"], sub["patient_id"]))
    return train_idx[tr], train_idx[va]


def split(spec: RunSpec, ctx: RunContext):
    """The run's table and its train / inner-validation / test indices.

    Cross-validation: the test fold against the other folds of one magnification. External:
    all of the training dataset against the whole external set, relabelled through the
    declared mapping.
    """
    full = ctx.manifests[spec.dataset]
    train_df = subset(full, spec.magnification)
    if spec.external:
        cfg = ctx.cfg
        test_df = ctx.manifests[spec.external].reset_index(drop=True)
        ext = next(e for e in cfg.external if e.train == spec.dataset and e.test == spec.external)
        classes = list(full.attrs["classes"])
        test_targets = external_targets(test_df, classes, ext.label_map, spec.external)
        df = pd.concat([train_df, test_df.assign(target=test_targets)], ignore_index=True)
        train_idx = np.arange(len(train_df))
        test_idx = np.arange(len(train_df), len(df))
    else:
        df = train_df
        train_idx = np.flatnonzero(df["fold"].to_numpy() != spec.fold)
        test_idx = np.flatnonzero(df["fold"].to_numpy() == spec.fold)
    if spec.shots is not None:  # label efficiency: k labelled patients per class of this fold
        return df, support(df, train_idx, spec, ctx.cfg), None, test_idx
    train_idx, val_idx = inner_validation(df, train_idx, ctx.cfg.training.val_fraction, spec.seed)
    return df, train_idx, val_idx, test_idx


def support(df: pd.DataFrame, train_idx: np.ndarray, spec: RunSpec, cfg) -> np.ndarray:
    """The run's support set: draw ``spec.draw`` of k patients per class, inside the fold.

    Draws depend on (experiment seed, fold) only, so every model and mode of the curve sees the
    same support sets, and the test fold is never drawn from.
    """
    from breastbench.protocols.shots import draw_support

    k = "all" if spec.shots == "all" else int(spec.shots)
    n_draws = 1 if k == "all" else shot_draws(cfg)
    rows = df.iloc[train_idx].reset_index(drop=True)
    draws = draw_support(rows, k, n_draws, seed=cfg.seed * 1000 + (spec.fold or 0))
    return train_idx[draws[spec.draw or 0]]


def in_context(model, source, df: pd.DataFrame, support_idx: np.ndarray, spec: RunSpec) -> dict:
    """Show a generative VLM one image per support patient before each query (k-shot ICL).

    The examples come from the run's support set (k patients per class of the training fold,
    the same draw as the label-efficiency probes), their order round-robin over the classes.
    Returns what run.json records about them.
    """
    from breastbench.experiment.sources import ImageSource
    from breastbench.protocols.shots import in_context_examples

    rows = df.iloc[support_idx].reset_index(drop=True)
    picked = support_idx[in_context_examples(rows, seed=spec.seed * 1000 + (spec.draw or 0))]
    chunks, texts = [], []
    for x, _ in source.batches(picked, 64, train=False, epoch=0):
        if isinstance(x, tuple):
            x, batch_texts = x
            texts += batch_texts
        chunks.append(x)
    vision = not isinstance(source, ImageSource)  # cached vision tokens, else images
    labels = df["target"].to_numpy()[picked]
    model.set_examples(torch.cat(chunks), labels, texts or None, vision=vision)
    return {
        "examples": int(len(picked)),
        "paths": df["path"].iloc[picked].astype(str).tolist(),
        "labels": [int(v) for v in labels],
    }


@dataclass
class Built:
    """A run's model, its preprocessing record and the input its mode reads."""

    model: object
    prep: Preprocessing
    source: object  # ImageSource, or a TensorSource of cached features / vision tokens
    t_model: float  # perf_counter when the model was built
    t_data: float  # perf_counter when its input was ready


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


def build(ctx: RunContext, spec: RunSpec, mc: ModelConfig, df, targets, classes) -> Built:
    """The model in the state its mode needs, its preprocessing and the input it reads."""
    model = build_model(spec, mc, classes, ctx.device)
    t_model = time.perf_counter()
    prep = preprocessing(ctx, spec, mc, model)
    source = make_source(ctx, spec, mc, model, df, targets, prep)
    return Built(model, prep, source, t_model, time.perf_counter())


def fit_mode(
    ctx: RunContext, spec: RunSpec, mc: ModelConfig, built: Built, data, resume, on_epoch
) -> Fitted:
    """Fit the run's mode and predict its test rows.

    ``data`` is (df, targets, classes, train_idx, val_idx, test_idx). A probe-like mode fits its
    ``fit_predict`` on the frozen features; every other mode goes through the trainer.
    """
    cfg, mode = ctx.cfg, get_mode(spec.mode)
    df, targets, classes, train_idx, val_idx, test_idx = data
    model, source = built.model, built.source
    mon = ctx.monitor
    micro_info = micro_batch(ctx, spec, mc, model, source, train_idx)
    micro = micro_info.chosen
    lr = mc.lr.get(spec.mode) if isinstance(mc.lr, dict) else mc.lr
    examples = None
    if mode.state == "zero_shot" and spec.shots is not None:  # generative in-context learning
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
    mc = cfg.models[spec.model_index]
    folder = ctx.folder
    key = spec.key
    if folder.is_complete(key):
        return folder.path(key)
    t_start = time.perf_counter()
    seed_everything(spec.seed)
    full = ctx.manifests[spec.dataset]
    classes = list(full.attrs["classes"])
    df, train_idx, val_idx, test_idx = split(spec, ctx)
    targets = df["target"].to_numpy()

    twin = reuse(ctx, spec)  # a scaled run takes its raw twin's fit when that ran just before
    built = twin[0] if twin else build(ctx, spec, mc, df, targets, classes)
    model, prep, source = built.model, built.prep, built.source

    partial = folder.partial_path(key)
    resume, resumes = _resume(partial, ctx, spec, mc)
    on_epoch = _epoch_hook(ctx, spec, partial, resumes)
    data = (df, targets, classes, train_idx, val_idx, test_idx)
    fitted = twin[1] if twin else fit_mode(ctx, spec, mc, built, data, resume, on_epoch)
    remember(ctx, spec, built, fitted)
    fitted.probs, fitted.temperature = calibrate(ctx, spec, built, fitted, data)  # T: val rows
    probs, result = fitted.probs, fitted.result
    t_end = time.perf_counter()

    pred_df = predictions_table(df.iloc[test_idx], probs, classes, spec.fold)
    from breastbench.metrics import compute_metrics

    y = pred_df["target"].to_numpy()
    metric_warnings: list[str] = []  # e.g. "no sample predicted positive": kept in run.json
    metrics = compute_metrics(
        y, probs[:, 1] if len(classes) == 2 else probs, classes, warnings_out=metric_warnings
    )
    robust = None
    t_robust = time.perf_counter()
    if cfg.robustness is not None and spec.calibration is None:  # raw runs' scores only
        from breastbench.experiment.robustness import predict_perturbed

        robust = predict_perturbed(
            ctx, spec, mc, model, df, targets, prep, source, train_idx, test_idx, classes, fit_probe
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
    info = run_info(ctx, spec, mc, built, rows, fitted, resumes, metric_warnings, timings)
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


def _resume(partial: Path, ctx: RunContext, spec: RunSpec, mc: ModelConfig):
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
        params = {"key": spec.key.to_dict(), **recorded_settings(cfg, mc, spec.mode)}
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


def run_info(ctx, spec, mc, built, rows, fitted, resumes, metric_warnings, timings) -> dict:
    """The readable record of one run (``run.json``): its key, data, model, fit and settings."""
    from breastbench.metrics.calibration import calibration_settings

    cfg, model, source = ctx.cfg, built.model, built.source
    df, train_idx, val_idx, test_idx = rows
    full = ctx.manifests[spec.dataset]
    return {
        **spec.to_dict(),
        "model_label": mc.display,
        "model_name": mc.name,
        "model_family": model.info.family,
        "text_context": spec.text,
        "preprocessing": built.prep.to_dict(),
        "task": full.attrs.get("task"),
        "classes": list(full.attrs["classes"]),
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
            "shots": spec.shots,
            "draw": spec.draw,
            "patients": int(df.iloc[train_idx]["patient_id"].nunique()),
            "patient_ids": sorted(df.iloc[train_idx]["patient_id"].astype(str).unique()),
        }
        if spec.shots is not None
        else None,
        "input_path": type(source).__name__,
        "micro_batch": fitted.micro.to_dict(),
        "metric_warnings": metric_warnings,
        "trainable": model.trainable_report(),
        "synthetic": bool(cfg.synthetic or full.attrs.get("synthetic", False)),
        "random_weights": str(model.weights_source) in ("random", "None"),
        "weights": str(model.weights_source),
        "config": {**recorded_settings(cfg, mc, spec.mode), "experiment": cfg.name},
        "versions": dict(package_versions()),
        "git_sha": git_sha(),
        "device": device_info(ctx.device),
        "timings": dict(timings),
    }


def _checkpoint_writer(cfg, spec: RunSpec, built: Built, classes, fitted: Fitted):
    """``write(path)`` saving the run's checkpoint (a probe's features too), or None."""
    save = cfg.training.save_checkpoints == "all" or (
        cfg.training.save_checkpoints == "first_fold" and spec.fold in (0, None)
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


# settings that change nothing a run computes (speed, bookkeeping): never a reason to retrain
NEUTRAL = {
    "label",
    "num_workers",
    "checkpoint_every",
    "checkpoint_seconds",
    "save_checkpoints",
    "eval_every_epoch",
    "micro_batch_size",
    "resources",
    "modes",  # grid axes: a run's own mode, text and shots are in its key
    "text_context",
    "shots",
}


def recorded_settings(cfg: ExperimentConfig, mc: ModelConfig, mode: str) -> dict:
    """What a run's results depend on, as recorded in run.json and compared on resume.

    The model's learning-rate override is the one this mode uses (a per-mode table resolved).
    """
    model = _plain(mc)
    model["lr"] = mc.lr.get(mode) if isinstance(mc.lr, dict) else mc.lr  # None: training.lr
    return {
        "model": model,
        "training": _plain(cfg.training),
        "cv": _plain(cfg.cv),
        "stain_norm": cfg.stain_norm,
    }


def changed_setting(recorded: dict, current: dict, where: str = "") -> tuple | None:
    """(dotted field, recorded value, current value) of the first difference, or None."""
    for key in sorted(set(recorded) | set(current)):
        if key in NEUTRAL or key == "experiment":
            continue
        a, b = recorded.get(key), current.get(key)
        path = f"{where}.{key}" if where else key
        if isinstance(a, dict) and isinstance(b, dict):
            found = changed_setting(a, b, path)
            if found:
                return found
        elif a != b and not (isinstance(a, (list, tuple)) and list(a) == list(b or [])):
            return path, a, b
    return None


def fitted_probe(mode: Mode, spec, source, df, targets, train_idx, n_classes):
    """The probe-like mode's training set: the frozen features and targets of the train rows."""
    from breastbench.modes.fitted import FittedProbe

    tr = np.asarray(train_idx)
    return FittedProbe(
        mode=mode.name,
        x_train=source.data.float().numpy()[tr],
        y_train=np.asarray(targets)[tr],
        groups=df["patient_id"].astype(str).to_numpy()[tr].tolist(),
        seed=spec.seed,
        num_classes=n_classes,
        source=mode.source,
    )


def fit_probe(spec, source, df, targets, train_idx, test_idx, n_classes, info: dict, x_test=None):
    """The run's probe-like mode fitted on the frozen training features; test probabilities.

    ``x_test`` (perturbed test features) replaces the test rows' features; the probe is fitted
    on the same training features either way (deterministic: the same probe).
    """
    mode = get_mode(spec.mode)
    fitted = fitted_probe(mode, spec, source, df, targets, train_idx, n_classes)
    x = source.data.float().numpy()[np.asarray(test_idx)] if x_test is None else x_test
    return fitted.predict(x, info)


def _plain(obj) -> dict:
    from dataclasses import asdict

    return asdict(obj)
