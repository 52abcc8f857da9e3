"""LoRA on a chosen part of the VLM (``lora_scope``), through peft.

Scopes: ``decoder`` (the language model's projections named by ``lora_targets``; the default
and the study's setting), ``vision`` (the vision encoder's attention projections),
``connector`` (the linear layers between vision encoder and decoder) and ``all`` (the three
together). SmolVLM's SigLIP encoder also names its attention projections
``q_proj/k_proj/v_proj``, so bare suffix targets would silently adapt (and train) the vision
encoder. Every target here is a regular expression anchored at its part's module (e.g.
``text_model.layers.N.self_attn.q_proj`` for Idefics3's decoder); peft matches it against the
full module name, so a scope can never reach modules of another part.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

from breastbench.errors import UserError
from breastbench.models.adapters import LoraOptions

ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP = ("gate_proj", "up_proj", "down_proj")
SCOPES = ("decoder", "vision", "connector", "all")
PARTS = ("vision", "connector", "decoder")  # the parts a scope may adapt, in forward order


@dataclass(frozen=True)
class ScopedLoraOptions(LoraOptions):
    """The VLM's LoRA options: the common ones plus decoder ``targets`` and the ``scope``.

    Defaults are the histopathology study's (r=16, alpha=32, 0.05); ``targets`` None means the
    attention projections.
    """

    targets: tuple[str, ...] | None = None  # decoder projections to adapt
    scope: str = "decoder"  # which part(s) carry adapters: one of SCOPES

    def __post_init__(self):
        if self.scope not in SCOPES:
            raise UserError(f"lora_scope {self.scope!r} invalid; use one of: {', '.join(SCOPES)}")
        super().__post_init__()
        if self.targets is None:
            return
        bad = [t for t in self.targets if t not in ATTENTION + MLP]
        if bad or not self.targets:
            raise UserError(
                f"lora_targets {list(self.targets)} invalid; allowed (decoder only): "
                f"{', '.join(ATTENTION + MLP)}"
            )
        object.__setattr__(self, "targets", tuple(self.targets))

    @property
    def decoder_targets(self) -> tuple[str, ...]:
        """The decoder projections that get adapters."""
        return ATTENTION if self.targets is None else self.targets

    @property
    def parts(self) -> tuple[str, ...]:
        """The model parts (vision, connector, decoder) that carry adapters under this scope."""
        return PARTS if self.scope == "all" else (self.scope,)

    def as_dict(self) -> dict:
        """Plain dict for reports and checkpoint metadata."""
        return {**asdict(self), "targets": list(self.decoder_targets)}


def target_pattern(decoder_name: str, targets: tuple[str, ...]) -> str:
    """Regex over full module names, restricted to the decoder's attention/MLP projections."""
    names = "|".join(targets)
    return rf"{decoder_name}\.layers\.\d+\.(self_attn|mlp)\.({names})"


def scope_pattern(arch, options: ScopedLoraOptions) -> str:
    """Regex over full module names matching exactly the linear layers of the scope's parts."""
    patterns = {
        "decoder": target_pattern(arch.decoder_name, options.decoder_targets),
        "vision": arch.vision_lora_pattern,
        "connector": arch.connector_lora_pattern,
    }
    return "|".join(f"(?:{patterns[part]})" for part in options.parts)


def wrap_lora(core, arch, options: ScopedLoraOptions):
    """Inject adapters into the scope's parts; peft freezes every non-adapter parameter."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=options.r,
        lora_alpha=options.alpha,
        lora_dropout=options.dropout,
        target_modules=scope_pattern(arch, options),
        bias="none",
    )
    with warnings.catch_warnings():
        # peft calls a transformers API deprecated in v5 (is_gradient_checkpointing): noise
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
        wrapped = get_peft_model(core, config)
    names = adapter_names(wrapped)
    outside = [
        n for n in names if arch.part_of(n.removeprefix("base_model.model.")) not in options.parts
    ]
    assert names and not outside, f"LoRA outside scope {options.scope}: {outside[:3]}"
    return wrapped


def adapter_names(model) -> list[str]:
    """Full names of the modules that carry LoRA adapters."""
    from peft.tuners.lora import LoraLayer

    return [name for name, module in model.named_modules() if isinstance(module, LoraLayer)]
