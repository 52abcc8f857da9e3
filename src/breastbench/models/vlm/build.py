"""The registry builder shared by every ``vlm/*`` variant (thin, as in timm).

Options (all optional, ``None`` means default): ``torch_dtype`` (bf16 | fp16 | fp32),
``gradient_checkpointing`` (bool), ``attn_implementation`` (sdpa | eager), ``input_size``
(side in pixels, or ``(H, W)`` / ``(3, H, W)`` with H == W), ``padding_side`` (left | right;
pooling is correct for both), ``lora_r``, ``lora_alpha``, ``lora_dropout``, ``lora_targets``
(decoder projections), ``lora_scope`` (decoder | vision | connector | all). transformers is
imported only here, when a VLM is built, so importing
``breastbench.models`` stays fast.
"""

from __future__ import annotations

from breastbench.errors import UserError
from breastbench.models import weights as W
from breastbench.models.vlm.arch import arch_for
from breastbench.models.vlm.lora import ScopedLoraOptions
from breastbench.models.vlm.model import VLMClassifier
from breastbench.models.vlm.prompt import PADDING_SIDES, PromptBuilder

DEFAULT_VLM_LORA = ScopedLoraOptions()


def build_vlm(
    info,
    num_classes: int,
    weights=None,
    *,
    torch_dtype="fp32",
    gradient_checkpointing=False,
    attn_implementation="sdpa",
    input_size=None,
    padding_side="right",
    lora: ScopedLoraOptions = DEFAULT_VLM_LORA,
) -> VLMClassifier:
    """Build a VLM classifier from random, meta-device, hub or local-folder weights."""
    from breastbench.models.vlm.configs import architecture_config
    from breastbench.models.vlm.loading import (
        SNAPSHOT_PATTERNS,
        build_random,
        complete_folder,
        load_pretrained,
        parse_dtype,
    )

    dtype = parse_dtype(torch_dtype)
    hub_id = info.extra["hub_id"]
    if W.kind_of(weights) == W.PRETRAINED and info.test_variant:
        raise UserError(f"'{info.name}' is a tiny test model without pretrained weights")
    if padding_side not in PADDING_SIDES:
        raise UserError(f"padding_side must be one of {PADDING_SIDES}, got '{padding_side}'")
    if lora.targets is not None and lora.scope in ("vision", "connector"):
        raise UserError(
            f"lora_targets picks decoder projections but lora_scope is '{lora.scope}' for "
            f"'{info.name}'; remove lora_targets or use lora_scope decoder or all"
        )

    processor = lm_head = None
    found = W.resolve(info, weights, snapshot=SNAPSHOT_PATTERNS, repo=hub_id)
    if found.kind == W.RANDOM:
        core = build_random(architecture_config(info.extra["arch"]), dtype, attn_implementation)
    else:
        folder = complete_folder(found, hub_id, info.name)
        core, lm_head, processor = load_pretrained(
            folder, hub_id, info.name, dtype, attn_implementation
        )
    source = found.source

    arch = arch_for(core.config)
    side = _side(input_size, info)
    if side <= 0 or side % arch.grid_multiple():
        raise UserError(
            f"input_size {side} does not fit '{info.name}': use a multiple of "
            f"{arch.grid_multiple()} (patch size x merge factor) so the image-token grid is whole"
        )
    n_image = arch.num_image_tokens(side, side)
    pad_id = core.config.text_config.pad_token_id
    if processor is not None and processor.tokenizer.pad_token_id is not None:
        pad_id = processor.tokenizer.pad_token_id
    prompts = PromptBuilder(arch, n_image, processor, pad_id or 0, padding_side)
    if gradient_checkpointing:
        core.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return VLMClassifier(
        info, num_classes, core, arch, prompts, source, (side, side), lora, lm_head=lm_head
    )


def _side(input_size, info) -> int:
    """Square side in pixels from an int, (H, W) or (3, H, W); the registry default if None."""
    if input_size is None:
        return info.input_size[1]
    if isinstance(input_size, int):
        return input_size
    size = tuple(int(v) for v in input_size)
    if len(size) not in (2, 3) or size[-1] != size[-2] or (len(size) == 3 and size[0] != 3):
        raise UserError(f"input_size {input_size} for '{info.name}' must be square: N, (N, N)")
    return size[-1]
