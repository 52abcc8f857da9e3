"""``micro_batch_size: auto``: the largest micro-batch that fits the device, found by a probe.

What Lightning's ``BatchSizeFinder`` (mode ``power``) and Accelerate's
``find_executable_batch_size`` do for a training loop, here for one run: starting from the
configured ``training.batch_size``, run one real training micro-step (forward, backward and an
AdamW step, so the optimiser's state is counted too) on that many images of the run's own input
path; on an out-of-memory error halve and try again. Gradient accumulation then keeps the
configured batch, so only speed changes (up to the floating-point order of the sums).

The probe leaves no trace: trainable weights, buffers (BatchNorm statistics), gradients and the
random-number generators are restored, so a run with ``auto`` gives what a run with the chosen
fixed micro-batch gives. On the CPU memory is not the limit and ``auto`` is the batch size.

The answer is kept in ``<cache_dir>/micro_batch.json`` under (model, options, mode, input size,
input path, device, AMP), so the other folds and repeats of a configuration reuse it, and it is
recorded in every run's ``run.json`` (``micro_batch``).
"""

from __future__ import annotations

import gc
import json
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from breastbench import jsonio
from breastbench.errors import UserError

AUTO = "auto"
CACHE_FILE = "micro_batch.json"


@dataclass
class MicroBatch:
    """The micro-batch of one run and how it was chosen (recorded in run.json)."""

    configured: int | str | None  # the config's value: a number, "auto" or null
    chosen: int
    how: str  # configured | batch size | cpu | probe | cached probe
    failed: list[int] = field(default_factory=list)  # probe sizes that ran out of memory
    key: str | None = None  # the reuse key of an auto choice

    def to_dict(self) -> dict:
        """Plain data for run.json."""
        return asdict(self)


def is_oom(err: BaseException) -> bool:
    """An out-of-memory error of the accelerator (as Accelerate's ``should_reduce_batch_size``).

    ``torch.cuda.OutOfMemoryError`` is the normal case; cuDNN and some kernels raise a plain
    RuntimeError whose message says "out of memory".
    """
    if isinstance(err, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(err, RuntimeError) and "out of memory" in str(err).lower()


def _release() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def largest_fitting(try_size: Callable[[int], None], start: int, where: str = "") -> tuple:
    """Halve from ``start`` until ``try_size(n)`` runs without running out of memory.

    Returns (the size that fits, the sizes that did not). Errors other than out-of-memory are
    raised as they are; if even 1 does not fit, a UserError says so.
    """
    n, failed = max(1, int(start)), []
    while True:
        try:
            try_size(n)
            return n, failed
        except Exception as err:  # noqa: BLE001 - only out-of-memory is handled, see is_oom
            if not is_oom(err):
                raise
            failed.append(n)
            del err
            _release()
            if n == 1:
                raise UserError(
                    f"{where}micro_batch_size: auto: even one image per step runs out of "
                    "device memory; use a smaller model, input_size or torch_dtype: bf16"
                ) from None
            n //= 2


class _Restore:
    """Snapshot of what a probe step changes: trainable weights, buffers, grads, RNGs."""

    def __init__(self, model: torch.nn.Module):
        self.model = model
        names = {n for n, p in model.named_parameters() if p.requires_grad}
        names |= {n for n, _ in model.named_buffers()}
        self.state = {k: v.detach().clone() for k, v in model.state_dict().items() if k in names}
        self.rng = (
            torch.get_rng_state(),
            torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            np.random.get_state(),
            random.getstate(),
        )
        self.training = {m: m.training for m in model.modules()}

    def __call__(self) -> None:
        self.model.load_state_dict(self.state, strict=False)
        for p in self.model.parameters():
            p.grad = None
        cpu, cuda, np_state, py_state = self.rng
        torch.set_rng_state(cpu)
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)
        np.random.set_state(np_state)
        random.setstate(py_state)
        for m, was in self.training.items():
            m.training = was


def training_step(model, source, train_idx: np.ndarray, device, amp: str) -> Callable:
    """``step(n)``: one forward + backward + AdamW step on ``n`` training images of the run.

    The images are the run's own (repeated if the training set is smaller than ``n``), through
    its own input path (images, cached features or cached vision tokens).
    """
    from breastbench.experiment.train import (
        _autocast,
        compute_loss,
        loss_fn,
        set_train_mode,
        source_targets,
    )

    criterion = loss_fn(model.num_outputs, source_targets(source, train_idx), False, device)

    def step(n: int) -> None:
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=0.0)
        set_train_mode(model, True)
        idx = np.resize(np.asarray(train_idx), n)
        try:
            x, y = next(iter(source.batches(idx, n, train=True, epoch=0)))
            with _autocast(device, amp):
                logits = source.forward(model, x)
            compute_loss(criterion, logits, y).backward()
            optimizer.step()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
        finally:
            optimizer.zero_grad(set_to_none=True)
            del optimizer

    return step


def probe(model, source, train_idx, batch_size: int, device, amp: str, where: str = "") -> tuple:
    """(largest micro-batch <= batch_size that fits, sizes that ran out of memory)."""
    restore = _Restore(model)
    try:
        return largest_fitting(
            training_step(model, source, train_idx, device, amp), batch_size, where
        )
    finally:
        restore()
        _release()


def needs_probe(device: torch.device) -> bool:
    """Memory limits the micro-batch on an accelerator only; on the CPU auto = batch size."""
    return device.type == "cuda"


def device_name(device: torch.device) -> str:
    """The device as the reuse key names it (GPU model and memory)."""
    if device.type != "cuda":
        return device.type
    props = torch.cuda.get_device_properties(device)
    return f"{props.name} {props.total_memory / 2**30:.0f}GiB"


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def resolve(
    configured,
    *,
    batch_size: int,
    model,
    source,
    train_idx,
    device: torch.device,
    amp: str,
    key_parts: dict,
    cache_dir: Path | None,
    where: str = "",
) -> MicroBatch:
    """The run's micro-batch: the configured number, the batch size, or the auto choice.

    ``key_parts`` names what the answer depends on (model, options, mode, input size, input
    path); the device and AMP are added here. An earlier probe with the same key is reused when
    it was made for at least this batch size, or found a limit below its batch size.
    """
    if configured is None:
        return MicroBatch(None, batch_size, "batch size")
    if configured != AUTO:
        return MicroBatch(configured, min(int(configured), batch_size), "configured")
    if not needs_probe(device):
        return MicroBatch(AUTO, batch_size, "cpu")
    parts = {**key_parts, "device": device_name(device), "amp": amp}
    key = "|".join(f"{k}={parts[k]}" for k in sorted(parts))
    path = Path(cache_dir) / CACHE_FILE if cache_dir else None
    entry = _read(path).get(key) if path else None
    if entry and (batch_size <= entry["batch_size"] or entry["chosen"] < entry["batch_size"]):
        return MicroBatch(AUTO, min(entry["chosen"], batch_size), "cached probe", [], key)
    chosen, failed = probe(model, source, train_idx, batch_size, device, amp, where)
    if path:
        from breastbench.experiment.locks import file_lock

        with file_lock(path.with_suffix(".lock")):
            table = _read(path)
            table[key] = {"chosen": chosen, "batch_size": batch_size, "failed": failed}
            jsonio.atomic_write_text(path, json.dumps(table, indent=1, sort_keys=True))
    return MicroBatch(AUTO, chosen, "probe", failed, key)
