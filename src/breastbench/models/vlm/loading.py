"""Build or load the Hugging Face VLM backbone (random, meta-device, hub or local folder).

Random and meta-device builds come from the architecture config alone; pretrained weights come
from the HF Hub cache (offline mode honoured, read at call time) or from a local folder holding
``config.json``, ``*.safetensors`` and the processor/tokenizer files. ``trust_remote_code`` is
never used: both architectures are native transformers classes. Any cache miss, network or
format failure becomes one :class:`~breastbench.errors.MissingWeightsError` line.
"""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModel, AutoModelForImageTextToText, AutoProcessor

from breastbench.errors import MissingWeightsError, UserError
from breastbench.models import weights as W

DTYPES = {
    "fp32": torch.float32,
    "float32": torch.float32,
    "bf16": torch.bfloat16,
    "bfloat16": torch.bfloat16,
    "fp16": torch.float16,
    "float16": torch.float16,
}
# files a VLM folder needs: config, weights (safetensors), tokenizer, processor, chat template
SNAPSHOT_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.jinja", "*.model"]


def parse_dtype(value) -> torch.dtype:
    """``"bf16"``/``"fp16"``/``"fp32"`` (or a torch dtype) -> torch dtype; a UserError otherwise."""
    if isinstance(value, torch.dtype):
        return value
    key = str(value).lower().removeprefix("torch.")
    if key not in DTYPES:
        raise UserError(f"torch_dtype '{value}' is not one of: bf16, fp16, fp32")
    return DTYPES[key]


def build_random(config, dtype: torch.dtype, attn: str):
    """The bare VLM (vision tower + connector + decoder, no LM head) with random weights.

    Under ``with torch.device("meta")`` this allocates nothing, which is how parameter counts of
    the 2B models are computed without weights.
    """
    config._attn_implementation = attn
    return AutoModel.from_config(config, dtype=dtype)


def complete_folder(found: W.Resolved, hub_id: str, what: str) -> Path:
    """The folder of resolved weights: the HF snapshot, or a user-given folder with config.json."""
    if found.kind == W.PRETRAINED:
        return found.folder
    folder = Path(found.source)
    if not (folder / "config.json").is_file():
        raise MissingWeightsError(
            f"weights for '{what}' not found: {folder} is not a folder with config.json; "
            f"point `weights` at a local copy of {hub_id} (config.json, *.safetensors, "
            f"tokenizer and processor files) or use weights=pretrained"
        )
    return folder


def load_pretrained(folder: Path, hub_id: str, what: str, dtype: torch.dtype, attn: str):
    """(bare VLM, LM head, processor) from a complete local folder; failures -> one line."""
    try:
        full = AutoModelForImageTextToText.from_pretrained(
            str(folder),
            dtype=dtype,
            attn_implementation=attn,
            local_files_only=True,
            trust_remote_code=False,
        )
        processor = AutoProcessor.from_pretrained(
            str(folder), local_files_only=True, trust_remote_code=False
        )
    except (OSError, ValueError, KeyError) as err:
        reason = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        raise W.missing(what, f"{folder} (for {hub_id})", reason) from None
    # the classifier runs the bare model (vision + decoder); the LM head serves zero-shot only
    return full.model, full.get_output_embeddings(), processor
