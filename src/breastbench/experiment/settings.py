"""The settings a run's results depend on, as run.json records them and a resume compares.

Settings that change nothing a run computes (:data:`NEUTRAL`: speed, bookkeeping, grid axes
already in the run key) are never a reason to retrain.
"""

from __future__ import annotations

from dataclasses import asdict

from breastbench.experiment.config import ExperimentConfig, ModelConfig

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


def _plain(obj) -> dict:

    return asdict(obj)
