"""A small registry of model builders with namespaced names (``cnn/resnet34``, ``vlm/smolvlm``).

Each family module registers one tiny builder per variant together with a frozen
:class:`ModelInfo` (weights source, input size, normalisation, LoRA targets, licence), in the
spirit of timm's ``default_cfgs``: metadata is data, builders stay thin.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field

from breastbench.errors import UserError
from breastbench.modes.registry import STATES, model_states, supported_modes

# the model states ``BreastModel.set_mode`` knows; the learning modes are in breastbench.modes
MODES = STATES


@dataclass(frozen=True)
class ModelInfo:
    """Static metadata of a registered model variant."""

    name: str  # namespaced registry name, e.g. "cnn/resnet34"
    family: str  # "cnn" | "vit" | "clip" | "vlm" | "plugin"
    weights: str  # where pretrained weights come from (hub id, torchvision enum, "random")
    input_size: tuple[int, int, int] = (3, 224, 224)
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    # what the family can do (breastbench.modes.CAPABILITIES); its modes are derived from it
    # (their order is the order its modes are listed in; the first is `models info`'s default)
    capabilities: tuple[str, ...] = ("features", "finetune")
    lora_targets: tuple[str, ...] = ()
    licence: str = "unknown"
    description: str = ""
    test_variant: bool = False  # tiny random model for tests/demo; never has pretrained weights
    gated: bool = False  # the hub asks users to accept terms before download
    published_params: float | None = None  # millions, as the authors publish (checked in tests)
    extra: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def modes(self) -> tuple[str, ...]:
        """The model states this variant supports (``set_mode``), derived from its capabilities."""
        return model_states(self.capabilities)

    @property
    def learning_modes(self) -> tuple[str, ...]:
        """Every learning mode it can run (probe-like ones too), derived from its capabilities."""
        return supported_modes(self.capabilities)


_REGISTRY: dict[str, tuple[ModelInfo, Callable]] = {}
# name prefix -> resolver(name) -> (ModelInfo, builder), for names no registry edit lists:
# ``timm/<name>``, ``open_clip/<id>``, ``hf/<repo>``, ``plugin:<file>:<fn>``
_RESOLVERS: dict[str, Callable[[str], tuple[ModelInfo, Callable]]] = {}
ENTRY_POINT_GROUP = "breastbench.models"


def register(info: ModelInfo) -> Callable[[Callable], Callable]:
    """Decorator: register ``builder(info, num_classes, weights, **kw) -> BreastModel``."""

    def deco(builder: Callable) -> Callable:
        assert info.name not in _REGISTRY, f"duplicate model name {info.name}"
        _REGISTRY[info.name] = (info, builder)
        return builder

    return deco


def register_resolver(prefix: str) -> Callable[[Callable], Callable]:
    """Decorator: resolve every name starting with ``prefix`` to ``(ModelInfo, builder)``."""

    def deco(resolver: Callable) -> Callable:
        _RESOLVERS[prefix] = resolver
        return resolver

    return deco


def list_models(family: str | None = None) -> list[str]:
    """Sorted registered names, optionally of one family (``cnn``, ``clip``, ``vlm``)."""
    return sorted(n for n, (i, _) in _REGISTRY.items() if family in (None, i.family))


def get_info(name: str) -> ModelInfo:
    """Metadata of ``name``; unknown names raise a UserError listing close matches."""
    return _lookup(name)[0]


def _lookup(name: str) -> tuple[ModelInfo, Callable]:
    if name in _REGISTRY:
        return _REGISTRY[name]
    for prefix, resolver in _RESOLVERS.items():
        if name.startswith(prefix) and len(name) > len(prefix):
            return resolver(name)
    entry = _entry_point(name)
    if entry is not None:
        return _RESOLVERS["plugin:"](f"plugin:{entry.value}", display=name)
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UserError(
            f"unknown model '{name}'.{hint} Run `breastbench models list` for all names."
        )
    return _REGISTRY[name]


def _entry_point(name: str):
    """The installed ``breastbench.models`` entry point called ``name``, if any."""
    from importlib.metadata import entry_points

    matches = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    return matches[0] if matches else None


def build(name: str, num_classes: int, weights=None, **kwargs):
    """Build a registered model; ``None`` kwargs are dropped so defaults apply (as in timm)."""
    info, builder = _lookup(name)
    if num_classes < 2:
        raise UserError(f"num_classes must be >= 2 for model '{name}', got {num_classes}")
    from breastbench.models.adapters import with_lora_options

    kwargs = with_lora_options(builder, {k: v for k, v in kwargs.items() if v is not None})
    return builder(info, num_classes=num_classes, weights=weights, **kwargs)
