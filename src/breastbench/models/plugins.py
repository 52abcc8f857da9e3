"""Your own model in one file: ``name: plugin:path/to/my_model.py:build``.

The function is called as ``build(num_classes=..., **options)`` (``options`` are the config
entry's ``options:``), with ``weights=`` added only when the function names a ``weights``
parameter, and returns either a :class:`~breastbench.models.base.BreastModel` or any
``nn.Module`` with the documented interface:

- ``features(images) -> (B, D)`` tensor, images (B, 3, H, W) already resized and normalised;
- ``feature_dim``: int, D;
- ``data_config``: dict with ``input_size`` (an int side, (H, W) or (3, H, W)), ``mean`` and
  ``std`` (3 floats each) and optionally ``interpolation`` (``bicubic`` when absent).

Every mismatch (a missing attribute, a malformed ``data_config``, ``features`` that fails or
returns the wrong shape on one blank image) is one line naming the model and what to fix.

A plain module is wrapped with a linear head, so linear probing and fine-tuning work as for any
registered model. The file may set ``CAPABILITIES = ("features", "finetune")`` (the default;
see :data:`breastbench.modes.CAPABILITIES`) or, as before, the model states it supports,
``MODES = ("linear_probe", "finetune")``; its learning modes are derived from either. An
installed package exposes the same function through the ``breastbench.models`` entry-point group
(``my_model = "my_pkg.models:build"``); its entry-point name is then a model name.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from pathlib import Path

import torch
from torch import nn

from breastbench.errors import UserError
from breastbench.models import weights as W
from breastbench.models.base import BreastModel
from breastbench.models.registry import MODES, ModelInfo, register_resolver
from breastbench.modes import CAPABILITIES

# the capability each model state needs (a plugin's MODES -> its CAPABILITIES)
STATE_CAPABILITY = {
    "linear_probe": "features",
    "finetune": "finetune",
    "lora": "lora",
    "zero_shot": "text_head",
}
INTERFACE = "features(images)->(B, D), feature_dim (int), data_config {input_size, mean, std}"


class PluginModel(BreastModel):
    """A user module behind the breastbench interface: its features, a linear head."""

    def __init__(self, info: ModelInfo, num_classes: int, module: nn.Module, source: str):
        super().__init__(info, num_classes, int(module.feature_dim), weights_source=source)
        self.module = module
        self._plugin_data_config = dict(module.data_config)
        self._plugin_size = size_of(module.data_config["input_size"])

    @property
    def data_config(self) -> dict:
        """The plugin's preprocessing (bicubic unless it names an interpolation)."""
        dc = self._plugin_data_config
        return {
            "input_size": tuple(self._input_size or self._plugin_size),
            "mean": tuple(dc["mean"]),
            "std": tuple(dc["std"]),
            "interpolation": dc.get("interpolation", "bicubic"),
        }

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The plugin's features (B, D)."""
        return self.module.features(images)


def _split(spec: str) -> tuple[str, str]:
    target, sep, fn = spec.rpartition(":")
    if not sep or not target or not fn:
        raise UserError(
            f"model 'plugin:{spec}': expected plugin:path/to/file.py:function, "
            "e.g. plugin:my_model.py:build"
        )
    return target, fn


def load_function(spec: str, name: str):
    """Import ``file.py:function`` or ``package.module:function``; one-line errors."""
    target, fn_name = _split(spec)
    if target.endswith(".py"):
        path = Path(target).expanduser().resolve()
        if not path.is_file():
            raise UserError(f"model '{name}': plugin file {path} does not exist")
        mod_name = f"breastbench_plugin_{abs(hash(str(path)))}"
        module_spec = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(module_spec)
        try:
            module_spec.loader.exec_module(module)
        except Exception as err:  # the user's file: say where it broke, in one line
            raise UserError(f"model '{name}': importing {path} failed ({W._short(err)})") from None
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as err:
            raise UserError(f"model '{name}': cannot import {target} ({err})") from None
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        raise UserError(f"model '{name}': {target} has no function '{fn_name}'")
    return module, fn


def size_of(value) -> tuple[int, int, int] | None:
    """An ``input_size`` as (3, H, W): an int side, (H, W) or (3, H, W); None when malformed."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    try:
        size = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        return None
    size = (3, *size) if len(size) == 2 else size
    return size if len(size) == 3 and size[0] == 3 and min(size) >= 1 else None


def _three_numbers(value) -> bool:
    try:
        return len(value) == 3 and all(isinstance(float(v), float) for v in value)
    except (TypeError, ValueError):
        return False


def check_data_config(dc: dict, name: str) -> None:
    """One line for a malformed ``data_config`` (input size, mean, std)."""
    if size_of(dc["input_size"]) is None:
        raise UserError(
            f"model '{name}': data_config['input_size'] is {dc['input_size']!r}; give an int "
            "side (224), (H, W) or (3, H, W)"
        )
    for key in ("mean", "std"):
        if not _three_numbers(dc[key]):
            raise UserError(
                f"model '{name}': data_config['{key}'] is {dc[key]!r}; give 3 numbers, one per "
                "RGB channel, e.g. (0.5, 0.5, 0.5)"
            )


def check_features(module: nn.Module, name: str) -> None:
    """``features`` on one blank image at the plugin's input size gives (1, feature_dim)."""
    size = size_of(module.data_config["input_size"])
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            out = module.features(torch.zeros(1, *size))
    except Exception as err:  # the user's code: say where it broke, in one line
        raise UserError(
            f"model '{name}': features() failed on a (1, {', '.join(map(str, size))}) batch "
            f"({W._short(err)})"
        ) from None
    finally:
        module.train(was_training)
    shape = tuple(getattr(out, "shape", ()))
    if shape != (1, module.feature_dim):
        raise UserError(
            f"model '{name}': features() returned shape {shape} for one image; expected "
            f"(1, feature_dim) = (1, {module.feature_dim})"
        )


def check_interface(module, name: str) -> None:
    """Raise one line naming what a plugin's returned module lacks."""
    if not isinstance(module, nn.Module):
        raise UserError(
            f"model '{name}': the plugin returned {type(module).__name__}, not a torch "
            f"nn.Module; it must have {INTERFACE}"
        )
    if isinstance(module, BreastModel):
        return
    lacks = []
    if not callable(getattr(module, "features", None)):
        lacks.append("features(images)")
    if not isinstance(getattr(module, "feature_dim", None), int):
        lacks.append("feature_dim (int)")
    dc = getattr(module, "data_config", None)
    if not isinstance(dc, dict):
        lacks.append("data_config (dict)")
    else:
        lacks += [f"data_config['{k}']" for k in ("input_size", "mean", "std") if k not in dc]
    if lacks:
        raise UserError(
            f"model '{name}': the plugin's module lacks {', '.join(lacks)}; "
            f"the interface is {INTERFACE}"
        )
    check_data_config(dc, name)
    check_features(module, name)


@register_resolver("plugin:")
def resolve(name: str, display: str | None = None):
    """``plugin:<file.py|module>:<function>`` -> (ModelInfo, builder)."""
    display = display or name
    module, fn = load_function(name.removeprefix("plugin:"), display)
    info = ModelInfo(name=display, family="plugin", weights="plugin")  # default capabilities
    caps = tuple(getattr(module, "CAPABILITIES", info.capabilities))
    if hasattr(module, "MODES"):
        modes = tuple(module.MODES)
        bad = [m for m in modes if m not in MODES]
        if bad:
            raise UserError(f"model '{display}': MODES has {bad}; allowed: {', '.join(MODES)}")
        caps = tuple(STATE_CAPABILITY[m] for m in modes)
    bad = [c for c in caps if c not in CAPABILITIES]
    if bad:
        raise UserError(
            f"model '{display}': CAPABILITIES has {bad}; allowed: {', '.join(CAPABILITIES)}"
        )
    info = ModelInfo(
        name=display,
        family="plugin",
        weights="plugin",
        capabilities=caps,
        licence=str(getattr(module, "LICENCE", "see plugin")),
        description=(inspect.getdoc(module) or "").split("\n")[0],
    )

    def builder(info: ModelInfo, num_classes: int, weights=None, **options):
        params = inspect.signature(fn).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
        options = dict(options)
        input_size = None if "input_size" in params else options.pop("input_size", None)
        unknown = [k for k in options if k not in params and not takes_any]
        if unknown:
            raise UserError(f"model '{display}': the plugin does not take option(s) {unknown}")
        kwargs = dict(options)
        # only a function that names `weights` receives it: build(num_classes, **options)
        # gets exactly the config's options, as documented
        takes_weights = "weights" in params
        if takes_weights:
            kwargs["weights"] = weights
        try:
            out = fn(num_classes=num_classes, **kwargs)
        except TypeError as err:  # a signature mismatch in the user's function: one line
            raise UserError(
                f"model '{display}': calling the plugin's {fn.__name__}(num_classes=..., "
                f"{', '.join(f'{k}=...' for k in kwargs)}) failed ({W._short(err)}); its "
                "parameters must match the entry's options"
            ) from None
        check_interface(out, display)
        if isinstance(out, BreastModel):
            return out
        source = W.RANDOM
        if W.kind_of(weights) == W.PRETRAINED and not takes_weights:
            raise UserError(
                f"model '{display}': the plugin has no 'pretrained' weights; give a local "
                "weights file/folder or add a weights argument to its function"
            )
        if W.kind_of(weights) == "local" and not takes_weights:
            path = W.local_file(weights, display)  # a state dict of the plugin's module
            W.load_into(out, W.read_state_dict(path), display, str(path))
            source = str(path)
        elif W.kind_of(weights) != W.RANDOM:
            source = str(weights)
        model = PluginModel(info, num_classes, out, source)
        if input_size is not None:
            model.set_input_size(input_size)
        return model

    return info, builder
