"""The one table of learning modes: what each needs from a model and how it fits.

A :class:`Mode` names the model state it sets (``zero_shot``, ``linear_probe``, ``finetune``,
``lora``: what :meth:`~breastbench.models.base.BreastModel.set_mode` accepts), whether the
backbone stays frozen, which input it trains on when caching is allowed (images, cached
features, cached vision tokens), the capabilities it needs from a model family and, for a
probe-like mode, its ``fit_predict(x_train, y_train, groups, x_test, *, seed, num_classes,
info)`` on frozen features. Gradient modes (``fit_predict`` None) go through the trainer.

Config validation, run keys, model families' supported modes, cache grouping, ``plan``, the
report's labels and the trainer all read this table (as peft's ``PeftType`` does for methods).
A new mode is one file calling :func:`register_mode`; see :func:`load_plugin`.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from breastbench.errors import UserError

# what a model family can declare (ModelInfo.capabilities)
CAPABILITIES = ("features", "finetune", "lora", "text_head", "generative")
INPUTS = ("images", "features", "vision")
STATES = ("zero_shot", "linear_probe", "finetune", "lora")  # the model states set_mode knows
NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class Mode:
    """One learning mode (see the module docstring)."""

    name: str
    label: str  # display name in tables and figures, e.g. "kNN"
    state: str  # the model state it needs (one of STATES)
    frozen: bool  # nothing but the head (or no parameter at all) trains: features cacheable
    input: str = "images"  # what it reads when caching is allowed (one of INPUTS)
    requires: tuple[str, ...] = ()  # capabilities a model family must declare
    generative_input: str | None = None  # the input on a generative family (VLM), if other
    fit_predict: Callable | None = None  # probe-like modes: fitted on cached features
    source: str | None = None  # the plugin file or module that registered it (None: built in)

    def __post_init__(self):
        if not NAME.fullmatch(self.name):
            raise UserError(f"mode {self.name!r}: use lower-case letters, digits and _ only")
        if self.state not in STATES:
            raise UserError(f"mode {self.name!r}: state must be one of {', '.join(STATES)}")
        bad = [c for c in self.requires if c not in CAPABILITIES]
        if bad or self.input not in INPUTS:
            raise UserError(
                f"mode {self.name!r}: requires {bad} / input {self.input!r} unknown; "
                f"capabilities: {', '.join(CAPABILITIES)}; inputs: {', '.join(INPUTS)}"
            )
        if self.fit_predict is not None and (self.state != "linear_probe" or not self.frozen):
            raise UserError(f"mode {self.name!r}: a probe-like mode is frozen, state linear_probe")

    @classmethod
    def probe_like(cls, name: str, label: str, fit_predict: Callable) -> Mode:
        """A probe-like mode: ``fit_predict`` on the cached frozen features (linear_probe state)."""
        return cls(
            name,
            label,
            state="linear_probe",
            frozen=True,
            input="features",
            requires=("features",),
            fit_predict=fit_predict,
        )

    @property
    def probe(self) -> bool:
        """True for a probe-like mode: fitted on frozen features without the trainer."""
        return self.fit_predict is not None

    @property
    def trains(self) -> bool:
        """True when the trainer takes gradient steps (the head at least)."""
        return self.fit_predict is None and self.state != "zero_shot"

    def input_on(self, capabilities) -> str:
        """The input this mode reads on a family with ``capabilities`` (caching allowed)."""
        if self.generative_input and "generative" in capabilities:
            return self.generative_input
        return self.input

    def supported_by(self, capabilities) -> bool:
        """True when a family with ``capabilities`` can run this mode."""
        return all(c in capabilities for c in self.requires)


_MODES: dict[str, Mode] = {}
_LOADING: list[str] = []  # the plugin being imported (register_mode records it as the source)


def register_mode(mode: Mode) -> Mode:
    """Add ``mode`` to the table (the same mode again is a no-op; another one is an error)."""
    if mode.source is None and _LOADING:  # registered by a plugin: predict reloads its file
        mode = replace(mode, source=_LOADING[-1])
    old = _MODES.get(mode.name)
    if old is not None and old != mode and (old.source is None or old.source != mode.source):
        where = old.source or "built in"
        raise UserError(f"mode {mode.name!r} is already registered ({where}); pick another name")
    _MODES[mode.name] = mode
    return mode


def get_mode(name: str) -> Mode:
    """The registered mode ``name``; UserError naming the allowed ones otherwise."""
    _builtins()
    if name not in _MODES:
        raise UserError(f"unknown mode '{name}'; allowed: {', '.join(mode_names())}")
    return _MODES[name]


def mode_names() -> tuple[str, ...]:
    """Every registered mode, built-in ones first in their documented order."""
    _builtins()
    return tuple(_MODES)


def modes() -> tuple[Mode, ...]:
    """Every registered :class:`Mode`."""
    _builtins()
    return tuple(_MODES.values())


def probe_names() -> tuple[str, ...]:
    """The probe-like modes (fitted on frozen features without the trainer)."""
    return tuple(m.name for m in modes() if m.probe)


def supported_modes(capabilities) -> tuple[str, ...]:
    """The modes a family with ``capabilities`` can run (derived, never listed per family)."""
    return tuple(m.name for m in modes() if m.supported_by(capabilities))


def model_states(capabilities) -> tuple[str, ...]:
    """The model states a family with ``capabilities`` supports, in its declaration order."""
    states = [m for m in modes() if m.name in STATES and m.supported_by(capabilities)]
    return tuple(m.name for c in capabilities for m in states if m.requires[:1] == (c,))


def is_known(name: str) -> bool:
    """True when ``name`` is a registered mode."""
    _builtins()
    return name in _MODES


def load_plugin(target: str, where: str = "mode_plugins") -> None:
    """Import a mode plugin: ``path/to/file.py`` or ``package.module``; it calls register_mode.

    The same mechanism as model plugins (:mod:`breastbench.models.plugins`): a file path is
    imported under a name derived from its resolved path, so importing it twice is harmless.
    """
    _builtins()
    if str(target).endswith(".py"):
        path = Path(target).expanduser().resolve()
        if not path.is_file():
            raise UserError(f"{where}: {target}: no such file; give a .py file or a module name")
        name = "breastbench_mode_" + re.sub(r"\W", "_", str(path))
        if name in sys.modules:
            return
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        _LOADING.append(str(path))
        try:
            spec.loader.exec_module(module)
        except UserError:
            sys.modules.pop(name, None)
            raise
        except Exception as err:  # noqa: BLE001 - the user's file: one line, no traceback
            sys.modules.pop(name, None)
            raise UserError(f"{where}: {target}: importing it failed ({err})") from None
        finally:
            _LOADING.pop()
        return
    _LOADING.append(str(target))
    try:
        importlib.import_module(str(target))
    except ImportError as err:
        raise UserError(f"{where}: {target}: cannot import it ({err})") from None
    finally:
        _LOADING.pop()


def load_recorded_plugins(config_path) -> None:
    """Load the ``mode_plugins`` an output folder's saved ``experiment.yaml`` names, if any.

    The report and the analysis parse run ids, whose mode must be registered; a folder made
    with a plugin mode names its file there. An absent or unreadable file loads nothing.
    """
    import yaml

    path = Path(config_path)
    if not path.is_file():
        return
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return
    plugins = raw.get("mode_plugins") if isinstance(raw, dict) else None
    for i, target in enumerate(plugins if isinstance(plugins, list) else []):
        load_plugin(str(target), where=f"{path}: mode_plugins[{i}]")


def _builtins() -> None:
    """Register the built-in modes once (their modules call :func:`register_mode`)."""
    if "tuned_probe" not in _MODES:
        from breastbench.modes import builtin  # noqa: F401 - registers on import
