"""Save and load trained classifiers as ``model.safetensors`` + ``meta.json``.

Only what is needed is stored (the model decides through ``checkpoint_state``): the head under
zero-shot/linear probing with reproducible weights, adapters + head under LoRA, the full state
after fine-tuning or when the backbone was randomly initialised. ``meta.json`` records how to
rebuild the rest with :func:`breastbench.models.create`. Loading reads safetensors only and never
unpickles anything.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from breastbench import jsonio
from breastbench.errors import UserError
from breastbench.models.base import BreastModel
from breastbench.models.preprocess import Preprocessing

FORMAT = 1
STATE_FILE = "model.safetensors"
META_FILE = "meta.json"


def save_checkpoint(
    model: BreastModel,
    out_dir,
    classes=None,
    extra: dict | None = None,
    preprocessing: Preprocessing | None = None,
) -> Path:
    """Write ``out_dir/model.safetensors`` and ``out_dir/meta.json``; return ``out_dir``.

    ``preprocessing`` (default: the model's own, squash resize, no stain normalisation, no
    text) is what ``predict`` and the explainability maps apply to new images.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = model.checkpoint_state()
    # clone: safetensors refuses tensors sharing storage (tied weights, views)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
    full = model.checkpoint_is_full()
    meta = {
        "format": FORMAT,
        "name": model.name,
        "num_classes": model.num_classes,
        "mode": model.mode,
        "classes": list(classes) if classes is not None else model.classes,
        # the create() argument, so the frozen backbone can be rebuilt from the same source
        "weights": model.weights_arg,
        "weights_source": model.weights_source,
        "state": "full" if full else "partial",
        "kwargs": _jsonable(model.build_kwargs),
        "data_config": _jsonable(model.data_config),
        "preprocessing": (preprocessing or Preprocessing.of_model(model)).to_dict(),
        "extra": _jsonable(extra or {}),
        "model_meta": _jsonable(model.checkpoint_meta()),  # e.g. a generative zero-shot's prompt
    }
    jsonio.atomic_write(
        out / STATE_FILE, lambda tmp: save_file(tensors, str(tmp), metadata={"format": str(FORMAT)})
    )
    jsonio.write_json(out / META_FILE, meta)
    return out


def read_meta(ckpt_dir) -> dict:
    """The ``meta.json`` of a checkpoint folder (UserError when it is not one)."""
    path = Path(ckpt_dir) / META_FILE
    if not path.is_file() or not (Path(ckpt_dir) / STATE_FILE).is_file():
        raise UserError(
            f"{ckpt_dir} is not a breastbench checkpoint (needs {STATE_FILE} and {META_FILE})"
        )
    try:
        meta = jsonio.read_json(path)
    except (UnicodeDecodeError, ValueError) as err:
        raise UserError(
            f"{path}: unreadable ({type(err).__name__}); the checkpoint is damaged, copy it "
            "again from the run folder or retrain that run"
        ) from None
    if not isinstance(meta, dict) or "name" not in meta:
        raise UserError(f"{path}: not a breastbench checkpoint meta.json (no 'name')")
    return meta


def load_checkpoint(ckpt_dir, weights=None, device: str | torch.device = "cpu") -> BreastModel:
    """Rebuild the model of a checkpoint folder and load its tensors.

    A full-state checkpoint needs no backbone weights (random init, then overwritten). A partial
    one rebuilds the backbone from the recorded source, or from ``weights`` when given (e.g. a
    local folder on a machine without the HF cache).
    """
    from breastbench.models import create

    meta = read_meta(ckpt_dir)
    full = meta["state"] == "full"
    source = weights if weights is not None else (None if full else meta["weights"])
    model = create(meta["name"], meta["num_classes"], weights=source, **meta["kwargs"])
    if meta["mode"]:
        model.set_mode(meta["mode"])
    state_path = Path(ckpt_dir) / STATE_FILE
    try:
        tensors = load_file(str(state_path), device="cpu")
    except Exception as err:  # noqa: BLE001 - safetensors raises its own error types
        raise UserError(
            f"{state_path}: not a readable safetensors file ({type(err).__name__}); copy it "
            "again from the run folder or retrain that run"
        ) from None
    model.restore_checkpoint_meta(meta.get("model_meta") or {})
    model.load_checkpoint_state(tensors)
    model.classes = meta["classes"]
    prep = meta.get("preprocessing")
    model.preprocessing = Preprocessing.from_dict(prep) if prep else Preprocessing.of_model(model)
    model.weights_arg = meta["weights"]
    if full or weights is None:
        model.weights_source = meta["weights_source"]
    return model.to(device).eval()


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return str(obj)
