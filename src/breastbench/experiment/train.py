"""One plain training loop for every family and mode.

What a batch *is* differs (images, cached frozen features, cached vision-encoder outputs), so
the loop takes an :class:`InputSource` that turns sample indices into model inputs and knows
which part of the model to run on them. Everything else (AdamW, cosine annealing with
T_max = total optimiser steps, gradient accumulation that keeps the effective batch, AMP on
GPU, per-epoch held-out loss, best-epoch selection on an inner validation split only, resume
from a checkpoint) is shared, so a cached path and the uncached one compute the same thing.

Randomness is derived from ``(seed, epoch)`` rather than carried along, so a run resumed at
epoch e makes exactly the same draws as an uninterrupted one.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from breastbench.experiment.config import TrainingConfig
from breastbench.modes import get_mode, is_known


class InputSource:
    """Turns index batches into inputs and runs the matching part of the model."""

    def batches(self, indices: np.ndarray, micro: int, train: bool, epoch: int):
        """Yield ``(inputs, targets)`` for consecutive chunks of ``indices``."""
        raise NotImplementedError

    def forward(self, model: nn.Module, inputs) -> torch.Tensor:
        """Logits for ``inputs``."""
        raise NotImplementedError


class TensorSource(InputSource):
    """Precomputed per-sample tensors (frozen features or vision-encoder outputs)."""

    def __init__(
        self,
        data: torch.Tensor,
        targets: np.ndarray,
        device: torch.device,
        forward: Callable[..., torch.Tensor],
        texts: list[str] | None = None,
    ):
        self.data = data
        self.texts = texts  # per-sample text context, passed to ``forward`` with the batch
        self.targets = torch.tensor(np.asarray(targets), dtype=torch.long)
        self.device = device
        self._forward = forward

    def batches(self, indices, micro, train, epoch):
        """Slices of the cached tensor, moved to the device."""
        for s in range(0, len(indices), micro):
            idx = torch.as_tensor(indices[s : s + micro])
            x = self.data[idx].to(self.device)
            if self.texts is not None:
                x = (x, [self.texts[int(i)] for i in idx])
            yield x, self.targets[idx].to(self.device)

    def forward(self, model, inputs):
        """Run the part of the model after the cached stage."""
        if self.texts is not None:
            return self._forward(model, *inputs)
        return self._forward(model, inputs)


@dataclass
class FitResult:
    """History rows and timing of one fit."""

    history: list[dict]
    best_epoch: int | None
    seconds: float


def loss_fn(num_outputs: int, targets: np.ndarray, class_weights: bool, device) -> nn.Module:
    """BCEWithLogits for one logit (binary), cross-entropy otherwise; optional class weights."""
    if num_outputs == 1:
        pos_weight = None
        if class_weights:
            pos = max(int((targets == 1).sum()), 1)
            pos_weight = torch.tensor([(len(targets) - pos) / pos], device=device)
        return nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    weight = None
    if class_weights:
        counts = np.bincount(targets, minlength=num_outputs).clip(min=1)
        weight = torch.tensor(
            len(targets) / (num_outputs * counts), dtype=torch.float32, device=device
        )
    return nn.CrossEntropyLoss(weight=weight)


def compute_loss(criterion: nn.Module, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Apply the criterion with the target shape it expects."""
    if logits.shape[1] == 1:
        return criterion(logits[:, 0].float(), y.float())
    return criterion(logits.float(), y)


def probabilities(logits: torch.Tensor) -> np.ndarray:
    """(N, C) class probabilities: sigmoid for one logit, softmax otherwise."""
    logits = logits.float()
    if logits.shape[1] == 1:
        p = torch.sigmoid(logits[:, 0])
        return torch.stack([1 - p, p], dim=1).cpu().numpy()
    return torch.softmax(logits, dim=1).cpu().numpy()


def _autocast(device: torch.device, amp: str):
    if device.type != "cuda" or amp == "off":
        return torch.autocast(device.type, enabled=False)
    dtype = torch.float16 if amp == "fp16" else torch.bfloat16
    return torch.autocast("cuda", dtype=dtype)


def set_train_mode(model: nn.Module, train: bool) -> None:
    """Frozen backbones stay in eval mode (BatchNorm statistics and dropout fixed)."""
    state = getattr(model, "mode", None)  # the model state its learning mode set
    if train and is_known(str(state)) and not get_mode(state).frozen:
        model.train()
    else:
        model.eval()


@torch.no_grad()
def predict_logits(
    model, source: InputSource, indices: np.ndarray, batch: int, device, amp: str = "auto"
) -> torch.Tensor:
    """Logits for ``indices`` in eval mode."""
    set_train_mode(model, False)
    out = []
    for x, _ in source.batches(indices, batch, train=False, epoch=0):
        with _autocast(device, amp):
            out.append(source.forward(model, x).float().cpu())
    if not out:
        return torch.empty(0, getattr(model, "num_outputs", 1))
    return torch.cat(out)


def _mean_loss(model, source, indices, criterion, batch, device, amp) -> tuple[float, float]:
    logits = predict_logits(model, source, indices, batch, device, amp)
    y = torch.as_tensor(source_targets(source, indices))
    loss = float(compute_loss(criterion.cpu(), logits, y)) if len(y) else float("nan")
    criterion.to(device)
    pred = (logits[:, 0] > 0).long() if logits.shape[1] == 1 else logits.argmax(1)
    acc = float((pred == y).float().mean()) if len(y) else float("nan")
    return loss, acc


def source_targets(source: InputSource, indices: np.ndarray) -> np.ndarray:
    """Targets of ``indices`` as known to the source."""
    return np.asarray(source.targets)[indices]


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """What training changes: trainable parameters and all buffers (BatchNorm statistics)."""
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    names |= {n for n, _ in model.named_buffers()}
    return {k: v.detach().clone() for k, v in model.state_dict().items() if k in names}


def fit(
    model,
    source: InputSource,
    train_idx: np.ndarray,
    cfg: TrainingConfig,
    *,
    seed: int,
    device: torch.device,
    micro_batch: int,
    lr: float,
    test_idx: np.ndarray | None = None,
    val_idx: np.ndarray | None = None,
    resume: dict | None = None,
    on_epoch: Callable[[int, dict, Callable[[], dict]], None] | None = None,
    on_step: Callable[[int, int, int, float], None] | None = None,
) -> FitResult:
    """Train the trainable parameters of ``model`` on ``train_idx``.

    ``on_epoch(epoch, row, state)`` is called after each epoch; ``state()`` returns a resumable
    (model/optimiser/scheduler state, history) that the caller may persist.
    ``on_step(epoch, step, steps_per_epoch, running_loss)`` after each optimiser step (progress).
    """
    start = time.perf_counter()
    targets = source_targets(source, train_idx)
    criterion = loss_fn(model.num_outputs, targets, cfg.class_weights, device)
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.epochs == 0 or not params or len(train_idx) == 0:
        return FitResult([], None, time.perf_counter() - start)
    steps_per_epoch = math.ceil(len(train_idx) / cfg.batch_size)
    opt = _Optimiser.of(params, cfg, lr, steps_per_epoch * cfg.epochs, device)
    track = _Progress.restored(model, opt, resume)
    eval_batch = max(micro_batch, 64)
    step = _StepLoop(source, cfg, opt, micro_batch, device, criterion)
    for epoch in range(track.first_epoch, cfg.epochs):
        t0 = time.perf_counter()
        torch.manual_seed(seed * 1_000_003 + epoch)  # dropout, LoRA dropout, etc.
        order = np.random.default_rng([seed, epoch]).permutation(train_idx)
        train_loss = step.epoch(model, order, epoch, steps_per_epoch, on_step)
        row = {"epoch": epoch + 1, "train_loss": train_loss, "lr": opt.lr}
        if cfg.eval_every_epoch and test_idx is not None and len(test_idx):
            row["test_loss"], row["test_accuracy"] = _mean_loss(
                model, source, test_idx, criterion, eval_batch, device, cfg.amp
            )
        stop = False
        if val_idx is not None and len(val_idx):
            row["val_loss"], row["val_accuracy"] = _mean_loss(
                model, source, val_idx, criterion, eval_batch, device, cfg.amp
            )
            stop = track.validated(model, cfg, row["val_loss"], epoch)
        row["seconds"] = time.perf_counter() - t0
        track.history.append(row)
        if on_epoch is not None:
            on_epoch(epoch, row, track.state_getter(model, opt, epoch))
        if stop:
            break
    if cfg.select_best and track.best_state is not None:
        model.load_state_dict(copy.copy(track.best_state), strict=False)
    return FitResult(track.history, track.best_epoch, time.perf_counter() - start)


@dataclass
class _Optimiser:
    """AdamW, its cosine schedule (T_max = total optimiser steps) and the fp16 loss scaler."""

    optimizer: torch.optim.Optimizer
    scheduler: object | None
    scaler: torch.amp.GradScaler

    @classmethod
    def of(cls, params, cfg: TrainingConfig, lr: float, total_steps: int, device) -> _Optimiser:
        """The optimiser of one fit."""
        optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)
        scheduler = (
            torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps)
            if cfg.scheduler == "cosine"
            else None
        )
        scaler_enabled = device.type == "cuda" and cfg.amp == "fp16"
        return cls(optimizer, scheduler, torch.amp.GradScaler("cuda", enabled=scaler_enabled))

    @property
    def lr(self) -> float:
        """The current learning rate."""
        return self.optimizer.param_groups[0]["lr"]

    def step(self) -> None:
        """One optimiser step, then the scaler and the schedule."""
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.scheduler is not None:
            self.scheduler.step()


@dataclass
class _StepLoop:
    """One epoch of optimiser steps, each accumulated over micro-batches."""

    source: InputSource
    cfg: TrainingConfig
    opt: _Optimiser
    micro_batch: int
    device: torch.device
    criterion: nn.Module

    def epoch(self, model, order: np.ndarray, epoch: int, steps_per_epoch: int, on_step) -> float:
        """Train on ``order`` (batch by batch); return the epoch's mean training loss."""
        cfg, opt = self.cfg, self.opt
        set_train_mode(model, True)
        total, seen = 0.0, 0
        for s in range(0, len(order), cfg.batch_size):
            step_idx = order[s : s + cfg.batch_size]
            opt.optimizer.zero_grad(set_to_none=True)
            for x, y in self.source.batches(step_idx, self.micro_batch, train=True, epoch=epoch):
                with _autocast(self.device, cfg.amp):
                    logits = self.source.forward(model, x)
                loss = compute_loss(self.criterion, logits, y)
                # weight each micro-batch by its share so the effective batch mean is kept
                opt.scaler.scale(loss * (len(y) / len(step_idx))).backward()
                total += float(loss.detach()) * len(y)
                seen += len(y)
            opt.step()
            if on_step is not None:
                on_step(epoch, s // cfg.batch_size + 1, steps_per_epoch, total / max(seen, 1))
        return total / max(seen, 1)


@dataclass
class _Progress:
    """The fit's history and best-epoch bookkeeping, restored from a resume state."""

    history: list
    first_epoch: int = 0
    best: float = math.inf
    best_epoch: int | None = None
    best_state: dict | None = None
    bad_epochs: int = 0

    @classmethod
    def restored(cls, model, opt: _Optimiser, resume: dict | None) -> _Progress:
        """A fresh record, or the resume state's (model and optimiser restored too)."""
        if not resume:
            return cls([])
        model.load_state_dict(resume["model"], strict=False)
        opt.optimizer.load_state_dict(resume["optimizer"])
        if opt.scheduler is not None and resume.get("scheduler"):
            opt.scheduler.load_state_dict(resume["scheduler"])
        return cls(
            list(resume["history"]),
            int(resume["epoch"]) + 1,
            resume.get("best", math.inf),
            resume.get("best_epoch"),
            resume.get("best_state"),
            int(resume.get("bad_epochs", 0)),
        )

    def validated(self, model, cfg: TrainingConfig, val_loss: float, epoch: int) -> bool:
        """Record an epoch's validation loss; True when early stopping says stop."""
        if val_loss < self.best:
            self.best, self.best_epoch, self.bad_epochs = val_loss, epoch + 1, 0
            if cfg.select_best:
                self.best_state = trainable_state(model)
            return False
        self.bad_epochs += 1
        return bool(cfg.early_stopping) and self.bad_epochs >= cfg.early_stopping

    def state_getter(self, model, opt: _Optimiser, epoch: int) -> Callable[[], dict]:
        """``state()`` of this epoch, built only when the caller decides to save.

        Copying weights every epoch would cost more than a cached-feature epoch itself; the
        bookkeeping is captured now, as it is at the end of ``epoch``.
        """
        bad, best, best_epoch, kept = self.bad_epochs, self.best, self.best_epoch, self.best_state
        history = self.history

        def state() -> dict:
            return {
                "model": trainable_state(model),
                "optimizer": opt.optimizer.state_dict(),
                "scheduler": opt.scheduler.state_dict() if opt.scheduler else None,
                "history": history,
                "epoch": epoch,
                "best": best,
                "best_epoch": best_epoch,
                "best_state": kept,
                "bad_epochs": bad,
            }

        return state
