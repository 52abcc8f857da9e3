"""peft LoRA on one sub-module of a model (a CNN trunk, a CLIP image tower).

:class:`PeftLoraMixin` gives a :class:`~breastbench.models.base.BreastModel` subclass the
``lora`` mode: the sub-module named by ``lora_attr`` becomes a ``peft.PeftModel`` whose adapters
sit on the layers matched by :meth:`lora_pattern` (a regex over module names inside that
sub-module), the head stays outside peft and trains, and checkpoints hold the head plus the
adapters (``lora.<peft key>``) unless the backbone cannot be rebuilt (random weights).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, fields

import torch
from torch import nn

from breastbench.errors import UserError


@dataclass(frozen=True)
class LoraOptions:
    """LoRA rank, scaling and dropout (defaults as the VLMs': r=16, alpha=32, dropout 0.05).

    The one LoRA-options type of every builder: a builder takes ``lora: LoraOptions``; a model
    entry's options ``lora_<field>`` (``lora_r``, ``lora_alpha``, ``lora_dropout``, and a
    subclass's fields) become it in :func:`breastbench.models.create` (:meth:`take`).
    """

    r: int = 16
    alpha: float = 32
    dropout: float = 0.05

    def __post_init__(self):
        if not isinstance(self.r, int) or isinstance(self.r, bool) or self.r < 1:
            raise UserError(f"lora_r must be a positive integer, got {self.r!r}")
        if not isinstance(self.alpha, int | float) or not self.alpha > 0:
            raise UserError(f"lora_alpha must be > 0, got {self.alpha!r}")
        if not isinstance(self.dropout, int | float) or not 0 <= self.dropout < 1:
            raise UserError(f"lora_dropout must be in [0, 1), got {self.dropout!r}")

    def as_dict(self) -> dict:
        """Plain dict for reports and checkpoint metadata."""
        return asdict(self)

    @classmethod
    def option_names(cls) -> list[str]:
        """The entry options this type is built from: ``lora_<field>``."""
        return [f"lora_{f.name}" for f in fields(cls)]

    @classmethod
    def take(cls, options: dict) -> tuple[LoraOptions | None, dict]:
        """(the LoRA options named in ``options`` or None, the other options)."""
        names = cls.option_names()
        given = {n.removeprefix("lora_"): options[n] for n in names if n in options}
        rest = {k: v for k, v in options.items() if k not in names}
        return (cls(**given) if given else None), rest


DEFAULT_LORA = LoraOptions()


def with_lora_options(builder, options: dict) -> dict:
    """``options`` with the ``lora_*`` entries as the builder's one ``lora`` argument.

    A builder takes LoRA options as ``lora: LoraOptions`` (or a subclass) with a default
    instance; the type of that default says which ``lora_<field>`` options it reads.
    """
    import inspect

    param = inspect.signature(builder).parameters.get("lora")
    if param is None or not isinstance(param.default, LoraOptions):
        return options
    lora, rest = type(param.default).take(options)
    return rest if lora is None else {**rest, "lora": lora}


def linear_and_conv_pattern(module: nn.Module, skip: tuple[str, ...] = ()) -> str:
    """Regex matching exactly the ``nn.Linear`` and ungrouped ``nn.Conv2d`` modules by name.

    Grouped (e.g. ConvNeXt's depthwise) convolutions are left out: peft needs the rank to be
    divisible by their groups, which no single rank satisfies across widths.
    """
    import re

    names = [
        re.escape(name)
        for name, m in module.named_modules()
        if name
        and not name.startswith(skip)
        and (isinstance(m, nn.Linear) or (isinstance(m, nn.Conv2d) and m.groups == 1))
    ]
    if not names:
        raise UserError(f"{type(module).__name__} has no Linear or Conv2d layer to adapt")
    return "|".join(names)


class PeftLoraMixin:
    """Adds peft's LoRA as mode ``lora``; subclasses set ``lora_attr`` and ``lora_options``."""

    lora_attr = "trunk"
    lora_options: LoraOptions

    def lora_pattern(self, module: nn.Module) -> str:
        """Regex over module names of ``module`` that receive adapters (every Linear/Conv2d)."""
        return linear_and_conv_pattern(module)

    def _lora_module(self) -> nn.Module:
        """The sub-module ``lora_attr`` names (a dotted path such as ``clip.visual``)."""
        return self.get_submodule(self.lora_attr)

    def _set_lora_module(self, module: nn.Module) -> None:
        parent, _, attr = self.lora_attr.rpartition(".")
        setattr(self.get_submodule(parent) if parent else self, attr, module)

    @property
    def is_lora(self) -> bool:
        """True once LoRA adapters have been injected."""
        return hasattr(self._lora_module(), "peft_config")

    def lora_base(self) -> nn.Module:
        """The adapted sub-module without its peft wrapper (the same object peft adapts)."""
        module = self._lora_module()
        return module.get_base_model() if self.is_lora else module

    def set_mode(self, mode: str):
        """As :meth:`BreastModel.set_mode`; ``lora`` injects adapters once and trains them."""
        self.check_mode(mode)
        if self.is_lora and mode != "lora":
            raise UserError(
                f"model '{self.name}' already carries LoRA adapters; build a new model for '{mode}'"
            )
        if mode != "lora":
            return super().set_mode(mode)
        if not self.is_lora:
            from peft import LoraConfig, get_peft_model

            module = self._lora_module()
            config = LoraConfig(
                r=self.lora_options.r,
                lora_alpha=self.lora_options.alpha,
                lora_dropout=self.lora_options.dropout,
                target_modules=self.lora_pattern(module),
                bias="none",
            )
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
                wrapped = get_peft_model(module, config)
            self._set_lora_module(wrapped.train(self.training))
        self.mode = mode
        for name, p in self.named_parameters():
            p.requires_grad = "lora_" in name
        for p in self.head.parameters():
            p.requires_grad = True
        return self.train(self.training)

    def trainable_report(self) -> dict:
        """Parameter counts; under lora also peft's own count of the adapter parameters."""
        report = super().trainable_report()
        if self.is_lora:
            report.update(peft_report(self._lora_module(), self.lora_options))
        return report

    def checkpoint_is_full(self) -> bool:
        """True when the checkpoint holds every tensor (backbone cannot be rebuilt otherwise)."""
        if self.is_lora:
            return self.weights_source == "random"
        return super().checkpoint_is_full()

    def checkpoint_state(self) -> dict[str, torch.Tensor]:
        """Head + adapters under lora with reproducible weights; else the base class's rule."""
        if not self.is_lora:
            return super().checkpoint_state()
        state = lora_checkpoint_state(self, self._lora_module(), self.checkpoint_is_full())
        return {k: v.detach().contiguous() for k, v in state.items()}

    def load_checkpoint_state(self, state: dict[str, torch.Tensor]) -> None:
        """Inverse of :meth:`checkpoint_state`; a state with adapters switches to lora first."""
        if any("lora_" in k for k in state) and not self.is_lora:
            self.set_mode("lora")
        if not self.is_lora:
            return super().load_checkpoint_state(state)
        load_lora_checkpoint(self, self._lora_module(), state)


def peft_report(wrapped, options) -> dict:
    """The LoRA counts: peft's own trainable / total, adapted modules, and the options.

    The one LoRA section of ``trainable_report`` for every family (CNN, CLIP tower, VLM).
    """
    from peft.tuners.lora import LoraLayer

    peft_trainable, peft_total = wrapped.get_nb_trainable_parameters()
    return {
        "peft_trainable_params": peft_trainable,
        "peft_total_params": peft_total,
        "lora_modules": sum(isinstance(m, LoraLayer) for m in wrapped.modules()),
        "lora": options.as_dict(),
    }


def lora_checkpoint_state(model, wrapped, full: bool) -> dict[str, torch.Tensor]:
    """Every tensor when ``full``; else the head plus ``wrapped``'s adapters as ``lora.*``.

    ``wrapped`` is the peft-wrapped sub-module, or None for a model without adapters (head
    only). The one checkpoint layout of every family with LoRA.
    """
    if full:
        return dict(model.state_dict())
    state = {f"head.{k}": v for k, v in model.head.state_dict().items()}
    if wrapped is not None:
        from peft import get_peft_model_state_dict

        adapters = get_peft_model_state_dict(wrapped)
        state.update({f"lora.{k}": v for k, v in adapters.items()})
    return state


def load_lora_checkpoint(model, wrapped, state: dict[str, torch.Tensor]) -> None:
    """Inverse of :func:`lora_checkpoint_state`; a tensor set that does not fit is one line.

    A full state loads strictly; otherwise the ``lora.*`` adapters go into ``wrapped`` (None:
    the checkpoint must hold none) and the ``head.*`` tensors into the head.
    """
    if any(not k.startswith(("head.", "lora.")) for k in state):
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise UserError(
                f"checkpoint does not fit '{model.name}': {str(err).splitlines()[0]}"
            ) from None
        return
    if wrapped is not None:
        from peft import get_peft_model_state_dict, set_peft_model_state_dict

        adapters = {k[5:]: v for k, v in state.items() if k.startswith("lora.")}
        expected = set(get_peft_model_state_dict(wrapped))
        if set(adapters) != expected:
            raise UserError(
                f"LoRA checkpoint does not fit '{model.name}' (different r or targets): "
                f"{len(set(adapters) ^ expected)} adapter tensors differ"
            )
        try:
            set_peft_model_state_dict(wrapped, adapters)
        except RuntimeError as err:  # same names, other shapes (e.g. another rank r)
            raise UserError(
                f"LoRA checkpoint does not fit '{model.name}': {str(err).splitlines()[0]}"
            ) from None
    model.head.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("head.")})
