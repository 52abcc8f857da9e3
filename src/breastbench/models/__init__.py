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
from breastbench.models.base import BreastModel
from breastbench.models.checkpoint import load_checkpoint, save_checkpoint
from breastbench.models.registry import MODES, ModelInfo, _lookup, build, get_info, list_models


def create(name: str, num_classes: int, weights=None, **kwargs) -> BreastModel:
    """Build ``name`` for ``num_classes`` classes (see ``docs/DESIGN.md``, Models).

    ``weights``: ``None``/``"random"``, ``"pretrained"`` (the registry default source) or a local
    file/folder. Extra keyword arguments (e.g. ``input_size=336``) go to the family builder;
    ``None`` values are dropped, unknown ones raise a UserError naming the accepted ones.
    """
    _, builder = _lookup(name)
    given = {k: v for k, v in kwargs.items() if v is not None}
    params = inspect.signature(builder).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        accepted = [k for k in params if k not in ("info", "num_classes", "weights")]
        unknown = sorted(set(given) - set(accepted))
        if unknown:
            raise UserError(
                f"model '{name}' does not take option(s) {', '.join(unknown)}; "
                f"accepted: {', '.join(accepted) or 'none'}"
            )
    model = build(name, num_classes, weights=weights, **given)
    model.weights_arg = None if weights is None else str(weights)
    model.build_kwargs = dict(given)
    return model


__all__ = [
    "MODES",
    "BreastModel",
    "ModelInfo",
    "create",
    "get_info",
    "list_models",
    "load_checkpoint",
    "save_checkpoint",
]
