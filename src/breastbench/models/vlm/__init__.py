"""Generative VLMs (Qwen2-VL, SmolVLM/Idefics3) as image classifiers; registers ``vlm/*``.

Every variant uses a fixed input size with no dynamic tiling or image splitting, so the
number of image tokens is fixed: 336x336 for the study's two models (Qwen2-VL: 24x24 patches of
14 px merged 2x2 -> 144 tokens; SmolVLM-Instruct: 24x24 patches, pixel shuffle 3 -> 64
tokens). The smaller SmolVLMs have 16-px patches and pixel shuffle 4, so a side must be a
multiple of 64; they use 384x384 (the nearest to 336 that fits -> 36 tokens). Any other size
can be passed as ``input_size=`` if it is a multiple of the model's patch x merge factor.

``zero_shot`` is generative: the instruct model answers a question from a question set and
each class is scored by the likelihood of its answer words (``vlm/generative.py``); with
``shots: k`` in the experiment file, k example images per class come first in the prompt.

Normalisation follows each model's own processor: Qwen2-VL uses the OpenAI CLIP mean/std,
SmolVLM (SigLIP) 0.5/0.5.
"""

from __future__ import annotations

from breastbench.models.registry import ModelInfo, register
from breastbench.models.vlm.build import build_vlm
from breastbench.models.vlm.lora import ATTENTION
from breastbench.models.vlm.model import VLMClassifier

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
HALF = (0.5, 0.5, 0.5)
VLM_CAPABILITIES = ("text_head", "features", "lora", "finetune", "generative")


def _info(name, hub_id, arch, size, mean, std, description, test=False) -> ModelInfo:
    return ModelInfo(
        name=name,
        family="vlm",
        weights="random" if test else hub_id,
        input_size=(3, size, size),
        mean=mean,
        std=std,
        capabilities=VLM_CAPABILITIES,
        lora_targets=ATTENTION,
        licence="Apache-2.0",
        description=description,
        test_variant=test,
        extra={"arch": arch, "hub_id": hub_id},
    )


VARIANTS = (
    _info(
        "vlm/qwen2-vl-2b",
        "Qwen/Qwen2-VL-2B-Instruct",
        "qwen2-vl-2b-instruct.json",
        336,
        CLIP_MEAN,
        CLIP_STD,
        "Qwen2-VL-2B-Instruct; 336 px -> 144 image tokens",
    ),
    _info(
        "vlm/smolvlm",
        "HuggingFaceTB/SmolVLM-Instruct",
        "smolvlm-instruct.json",
        336,
        HALF,
        HALF,
        "SmolVLM-Instruct (2.2B); 336 px -> 64 image tokens",
    ),
    _info(
        "vlm/smolvlm-500m",
        "HuggingFaceTB/SmolVLM-500M-Instruct",
        "smolvlm-500m-instruct.json",
        384,
        HALF,
        HALF,
        "SmolVLM-500M-Instruct; 384 px -> 36 image tokens",
    ),
    _info(
        "vlm/smolvlm-256m",
        "HuggingFaceTB/SmolVLM-256M-Instruct",
        "smolvlm-256m-instruct.json",
        384,
        HALF,
        HALF,
        "SmolVLM-256M-Instruct; 384 px -> 36 image tokens",
    ),
    _info(
        "vlm/test-qwen2-vl",
        "",
        "tiny-qwen2-vl",
        32,
        CLIP_MEAN,
        CLIP_STD,
        "tiny random Qwen2-VL for tests (hidden 32, 2 layers, 16 image tokens)",
        test=True,
    ),
    _info(
        "vlm/test-smolvlm",
        "",
        "tiny-idefics3",
        32,
        HALF,
        HALF,
        "tiny random Idefics3/SmolVLM for tests (hidden 32, 2 layers, 16 image tokens)",
        test=True,
    ),
)

for _variant in VARIANTS:
    register(_variant)(build_vlm)

__all__ = ["VARIANTS", "VLMClassifier", "build_vlm"]
