"""LoRA through peft on a named scope: ``decoder`` (default), ``vision``, ``connector`` or ``all``.

SmolVLM's SigLIP encoder also names its attention projections ``q_proj/k_proj/v_proj``, so
bare suffix targets would silently adapt (and train) the vision encoder. The target here is a
regular expression anchored at the decoder module (``language_model.layers.N.self_attn.q_proj``
for Qwen2-VL, ``text_model.layers.N.self_attn.q_proj`` for Idefics3); peft matches it against
the full module name, so vision and connector modules can never match. The ``vision`` and
``connector`` scopes use the architecture's own anchored patterns (:attr:`vision_pattern`,
:attr:`connector_pattern` of the arch classes); ``all`` is their union with the decoder's.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

from breastbench.errors import UserError

ATTENTION = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP = ("gate_proj", "up_proj", "down_proj")
SCOPES = ("decoder", "vision", "connector", "all")


@dataclass(frozen=True)
class LoraOptions:
    """LoRA hyper-parameters; defaults are the histopathology study's (r=16, alpha=32, 0.05)."""

    r: int = 16
    alpha: float = 32
    dropout: float = 0.05
    targets: tuple[str, ...] = ATTENTION  # decoder projections to adapt
    scope: str = "decoder"  # which part of the VLM carries adapters

    def __post_init__(self):
        if self.scope not in SCOPES:
            raise UserError(f"lora_scope '{self.scope}' invalid; allowed: {', '.join(SCOPES)}")
        if not isinstance(self.r, int) or self.r < 1:
            raise UserError(f"lora_r must be a positive integer, got {self.r!r}")
        if not self.alpha > 0:
            raise UserError(f"lora_alpha must be > 0, got {self.alpha!r}")
        if not 0 <= self.dropout < 1:
            raise UserError(f"lora_dropout must be in [0, 1), got {self.dropout!r}")
        bad = [t for t in self.targets if t not in ATTENTION + MLP]
        if bad or not self.targets:
            raise UserError(
                f"lora_targets {list(self.targets)} invalid; allowed (decoder only): "
                f"{', '.join(ATTENTION + MLP)}"
            )
        object.__setattr__(self, "targets", tuple(self.targets))

    def as_dict(self) -> dict:
        """Plain dict for reports and checkpoint metadata."""
        return {**asdict(self), "targets": list(self.targets)}


def target_pattern(decoder_name: str, targets: tuple[str, ...]) -> str:
    """Regex over full module names, restricted to the decoder's attention/MLP projections."""
    names = "|".join(targets)
    return rf"{decoder_name}\.layers\.\d+\.(self_attn|mlp)\.({names})"


def scope_patterns(arch, options: LoraOptions) -> dict[str, str]:
    """Anchored regex per scope that ``options.scope`` adapts (``all``: every scope)."""
    patterns = {
        "decoder": target_pattern(arch.decoder_name, options.targets),
        "vision": arch.vision_pattern,
        "connector": arch.connector_pattern,
    }
    wanted = ("decoder", "vision", "connector") if options.scope == "all" else (options.scope,)
    return {k: patterns[k] for k in wanted}


def wrap_lora(core, arch, options: LoraOptions):
    """Inject adapters into the chosen scope; peft freezes every non-adapter parameter."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=options.r,
        lora_alpha=options.alpha,
        lora_dropout=options.dropout,
        target_modules="|".join(f"(?:{p})" for p in scope_patterns(arch, options).values()),
        bias="none",
    )
    with warnings.catch_warnings():
        # peft calls a transformers API deprecated in v5 (is_gradient_checkpointing): noise
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
        wrapped = get_peft_model(core, config)
    names = adapter_names(wrapped)
    scopes = set(scope_patterns(arch, options))
    assert names and all(arch.scope_of(n) in scopes for n in names), "LoRA outside its scope"
    return wrapped


def adapter_names(model) -> list[str]:
    """Full names of the modules that carry LoRA adapters."""
    from peft.tuners.lora import LoraLayer

    return [name for name, module in model.named_modules() if isinstance(module, LoraLayer)]
