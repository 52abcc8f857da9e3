"""Architecture configs of the generative VLMs: the real ones shipped as JSON, tiny ones in code.

The real ``config.json`` files of Qwen2-VL-2B-Instruct and SmolVLM-Instruct/-256M/-500M live in
``breastbench/models/configs/`` so the architectures can be built on the meta device with no
download (parameter counts for ``models info`` and the LoRA-size tests). The tiny test configs
use the same config classes (``Qwen2VLConfig``, ``Idefics3Config``) with hidden sizes of 32,
two layers and 32x32-pixel images, so every code path runs on a laptop CPU in milliseconds.
"""

from __future__ import annotations

import json
from importlib import resources

from transformers import Idefics3Config, PreTrainedConfig, Qwen2VLConfig

CONFIG_CLASSES = {"qwen2_vl": Qwen2VLConfig, "idefics3": Idefics3Config}

# special ids of the tiny vocabularies (128 tokens): ordinary text ids stay below 100
TINY_IDS = {"image": 120, "video": 121, "vision_start": 122, "vision_end": 123}

# the decoder both tiny VLMs share: 2 layers, hidden 32, 4 heads (2 key/value), 128 tokens
TINY_DECODER = {
    "vocab_size": 128,
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 512,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "pad_token_id": 0,
}


def shipped_config(filename: str) -> PreTrainedConfig:
    """Read a real architecture config shipped with the package (``models/configs/*.json``)."""
    text = resources.files("breastbench.models").joinpath("configs", filename).read_text()
    raw = json.loads(text)
    return CONFIG_CLASSES[raw["model_type"]].from_dict(raw)


def tiny_qwen2_vl() -> Qwen2VLConfig:
    """Qwen2-VL with a 2-layer decoder (hidden 32) and a 2-block ViT on 4-pixel patches."""
    return Qwen2VLConfig(
        text_config={
            **TINY_DECODER,
            # head_dim 8 -> 4 rotary frequencies split over (temporal, height, width)
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": [2, 1, 1],
            },
        },
        vision_config={
            "depth": 2,
            "embed_dim": 32,
            "hidden_size": 32,  # merger output = decoder width
            "num_heads": 4,
            "mlp_ratio": 2,
            "patch_size": 4,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        image_token_id=TINY_IDS["image"],
        video_token_id=TINY_IDS["video"],
        vision_start_token_id=TINY_IDS["vision_start"],
        vision_end_token_id=TINY_IDS["vision_end"],
    )


def tiny_idefics3() -> Idefics3Config:
    """Idefics3/SmolVLM with a 2-layer Llama decoder and a 2-layer SigLIP on 4-pixel patches."""
    return Idefics3Config(
        text_config={"model_type": "llama", **TINY_DECODER},
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": 32,
            "patch_size": 4,
        },
        scale_factor=2,
        image_token_id=TINY_IDS["image"],
    )


TINY_CONFIGS = {"tiny-qwen2-vl": tiny_qwen2_vl, "tiny-idefics3": tiny_idefics3}


def architecture_config(name: str) -> PreTrainedConfig:
    """Config for a registry ``arch`` entry: ``tiny-*`` built in code, else a shipped JSON."""
    if name in TINY_CONFIGS:
        return TINY_CONFIGS[name]()
    return shipped_config(name)
