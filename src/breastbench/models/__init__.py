"""Model layer: one classifier interface for CNNs, CLIP-style and generative VLMs.

Importing this package registers every family (``cnn/*``, ``clip/*``, ``vlm/*``); heavy libraries
(timm, open_clip, transformers) are imported only when a model is built. Use :func:`create` to
build a model, :func:`list_models` / :func:`get_info` to browse the registry, and
:func:`save_checkpoint` / :func:`load_checkpoint` to persist a trained classifier.
"""

from __future__ import annotations

import inspect

from breastbench.errors import UserError
from breastbench.models import clip, cnn, escape, pathology, plugins, vlm  # noqa: F401
from breastbench.models.adapters import LoraOptions
from breastbench.models.base import BreastModel
from breastbench.models.checkpoint import load_checkpoint, save_checkpoint
from breastbench.models.registry import MODES, ModelInfo, _lookup, build, get_info, list_models

#: create() arguments an experiment sets itself: as a model option they would collide
_RESERVED_OPTIONS = {
    "num_classes": "it comes from the dataset's classes (use label_map to merge classes)",
    "weights": "use the model entry's weights key",
    "name": "use the model entry's name key",
    "info": "it is the registry entry",
}


def check_options(name: str, options: dict) -> None:
    """Raise one line for an option ``name``'s builder does not take (no model is built).

    Called by :func:`create` and at plan time for every model entry, so a typo in the last
    model of an experiment is reported before the first one trains.
    """
    for key, why in _RESERVED_OPTIONS.items():
        if key in options:
            raise UserError(f"model '{name}': option {key} cannot be set; {why}")
    _, builder = _lookup(name)
    given = {k: v for k, v in options.items() if v is not None}
    params = inspect.signature(builder).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        accepted = []
        for k, p in params.items():
            if k == "lora" and isinstance(p.default, LoraOptions):  # lora_r, lora_alpha, ...
                accepted += type(p.default).option_names()
            elif k not in _RESERVED_OPTIONS:
                accepted.append(k)
        unknown = sorted(set(given) - set(accepted), key=str)
        if unknown:
            raise UserError(
                f"model '{name}' does not take option(s) {', '.join(map(str, unknown))}; "
                f"accepted: {', '.join(accepted) or 'none'}"
            )


def create(name: str, num_classes: int, weights=None, **kwargs) -> BreastModel:
    """Build ``name`` for ``num_classes`` classes (see ``docs/DESIGN.md``, Models).

    ``weights``: ``None``/``"random"``, ``"pretrained"`` (the registry default source) or a local
    file/folder. Extra keyword arguments (e.g. ``input_size=336``) go to the family builder;
    ``None`` values are dropped, unknown ones raise a UserError naming the accepted ones.
    """
    check_options(name, kwargs)
    given = {k: v for k, v in kwargs.items() if v is not None}
    model = build(name, num_classes, weights=weights, **given)
    model.weights_arg = None if weights is None else str(weights)
    model.build_kwargs = dict(given)
    return model


__all__ = [
    "MODES",
    "BreastModel",
    "ModelInfo",
    "check_options",
    "create",
    "get_info",
    "list_models",
    "load_checkpoint",
    "save_checkpoint",
]
