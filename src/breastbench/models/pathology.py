"""Pathology foundation models with their published architecture and preprocessing.

UNI, UNI2-h, Virchow2, H-optimus-0, Prov-GigaPath, Phikon(-v2), PLIP and QuiltNet, each
with the architecture, preprocessing, licence and gating its authors publish on the model
page, plus a tiny random twin (``<family>/test-<name>``) built from the same architecture with
a narrow, shallow config, for tests.

None of them needs remote code. Most are gated: the user accepts the terms on the Hugging Face
page and logs in (``hf auth login`` or ``HF_TOKEN``), or points ``weights:`` at a local
copy; :mod:`breastbench.models.weights` says so in one line when a download is refused.
"""

from __future__ import annotations

import copy

from breastbench.models.clip import CLIP_CAPABILITIES, OPENAI_MEAN, OPENAI_STD
from breastbench.models.encoders import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    VIT_CAPABILITIES,
    build_hf,
    build_timm,
)
from breastbench.models.hf_clip import build_hf_clip
from breastbench.models.registry import ModelInfo, register

NC_ND = "cc-by-nc-nd-4.0"
_UNI2 = {
    "img_size": 224,
    "patch_size": 14,
    "depth": 24,
    "num_heads": 24,
    "init_values": 1e-5,
    "embed_dim": 1536,
    "mlp_ratio": 2.66667 * 2,
    "no_embed_class": True,
    "mlp_layer": "SwiGLUPacked",
    "act_layer": "SiLU",
    "reg_tokens": 8,
    "dynamic_img_size": True,
}
# (name, hub id, timm architecture, kwargs, preprocessing, licence, gated, params M, notes)
TIMM_MODELS = (
    (
        "uni",
        "hf-hub:MahmoodLab/uni",
        "vit_large_patch16_224",
        {"img_size": 224, "patch_size": 16, "init_values": 1e-5, "dynamic_img_size": True},
        (IMAGENET_MEAN, IMAGENET_STD, "bilinear"),
        NC_ND,
        True,
        303.0,
        "UNI (Mahmood Lab): ViT-L/16 DINOv2 on 100M pathology tiles",
    ),
    (
        "uni2-h",
        "hf-hub:MahmoodLab/UNI2-h",
        "vit_giant_patch14_224",
        _UNI2,
        (IMAGENET_MEAN, IMAGENET_STD, "bilinear"),
        NC_ND,
        True,
        681.0,
        "UNI2-h (Mahmood Lab): ViT-H/14, 8 register tokens, 200M+ tiles",
    ),
    (
        "virchow2",
        "hf-hub:paige-ai/Virchow2",
        "vit_huge_patch14_224",
        {
            "img_size": 224,
            "init_values": 1e-5,
            "mlp_ratio": 5.3375,
            "global_pool": "",
            "dynamic_img_size": True,
            "reg_tokens": 4,
            "mlp_layer": "SwiGLUPacked",
            "act_layer": "SiLU",
        },
        (IMAGENET_MEAN, IMAGENET_STD, "bicubic"),
        NC_ND,
        True,
        632.0,
        "Virchow2 (Paige): ViT-H/14; embedding = class token + mean patch token (2560-D)",
    ),
    (
        "h-optimus-0",
        "hf-hub:bioptimus/H-optimus-0",
        "vit_giant_patch14_reg4_dinov2",
        {"img_size": 224, "init_values": 1e-5, "global_pool": "token", "dynamic_img_size": False},
        ((0.707223, 0.578729, 0.703617), (0.211883, 0.230117, 0.177517), "bicubic"),
        "apache-2.0",
        True,
        1130.0,  # ViT-g/14: "1.1B" on the model page, 1.13B in the DINOv2 paper
        "H-optimus-0 (Bioptimus): ViT-g/14, 4 register tokens, 500k slides",
    ),
    (
        "prov-gigapath",
        "hf-hub:prov-gigapath/prov-gigapath",
        "vit_giant_patch14_dinov2",
        {
            "img_size": 224,
            "in_chans": 3,
            "patch_size": 16,
            "embed_dim": 1536,
            "depth": 40,
            "num_heads": 24,
            "init_values": 1e-5,
            "mlp_ratio": 5.33334,
        },
        (IMAGENET_MEAN, IMAGENET_STD, "bicubic"),
        "apache-2.0",
        True,
        1134.0,
        "Prov-GigaPath tile encoder: ViT-g/16 DINOv2 on 1.3B Providence tiles",
    ),
)
# shrinks a published config to a tiny twin with the same layer types
_TINY_TIMM = {"img_size": 32, "patch_size": 16, "embed_dim": 32, "depth": 2, "num_heads": 2}

PHIKON = {
    "model_type": "vit",
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "image_size": 224,
    "patch_size": 16,
    "qkv_bias": True,
}
PHIKON_V2 = {
    "model_type": "dinov2",
    "hidden_size": 1024,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "mlp_ratio": 4,
    "image_size": 224,
    "patch_size": 16,
    "layerscale_value": 1e-5,
}
HF_MODELS = (
    (
        "phikon",
        "owkin/phikon",
        PHIKON,
        {"add_pooling_layer": False},
        "bilinear",
        86.0,
        "Phikon (Owkin): ViT-B/16 iBOT on 40M TCGA tiles; class token (768-D)",
    ),
    (
        "phikon-v2",
        "owkin/phikon-v2",
        PHIKON_V2,
        {},
        "bicubic",
        303.0,
        "Phikon-v2 (Owkin): ViT-L/16 DINOv2 on 456M tiles; class token (1024-D)",
    ),
)
_TINY_HF = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "image_size": 32,
}
PLIP = {
    "model_type": "clip",
    "projection_dim": 512,
    "text_config": {
        "vocab_size": 49408,
        "hidden_size": 512,
        "intermediate_size": 2048,
        "num_hidden_layers": 12,
        "num_attention_heads": 8,
        "max_position_embeddings": 77,
    },
    "vision_config": {
        "hidden_size": 768,
        "intermediate_size": 3072,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "image_size": 224,
        "patch_size": 32,
    },
}
TINY_PLIP = {  # the tiny character tokenizer ends texts with [SEP] = 3, CLIP's pooling token
    "model_type": "clip",
    "projection_dim": 16,
    "text_config": {
        "vocab_size": 93,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "max_position_embeddings": 64,
        "pad_token_id": 0,
        "bos_token_id": 2,
        "eos_token_id": 3,
    },
    "vision_config": {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": 32,
        "patch_size": 16,
    },
}
# open_clip's own ViT-B-32 config with a narrow tower; QuiltNet-B-32 itself uses "ViT-B-32"
TINY_OPEN_CLIP = {
    "embed_dim": 16,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 32, "head_width": 16, "patch_size": 16},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}


def _register_with_twin(builder, published: dict, twin: dict, **common) -> None:
    """Register a published model and its tiny random twin (32 px, random weights).

    ``published`` and ``twin`` hold each entry's own ModelInfo fields (name, weights,
    description, extra...), ``common`` the fields both share (family, preprocessing, licence...).
    """
    register(ModelInfo(**published, **common))(builder)
    twin = {"weights": "random", "input_size": (3, 32, 32), "test_variant": True, **twin}
    register(ModelInfo(**twin, **common))(builder)


def _register_timm() -> None:
    for name, hub, arch, kwargs, (mean, std, interp), licence, gated, params, desc in TIMM_MODELS:
        pool = "cls_mean_patch" if name == "virchow2" else "default"
        extra = {"timm_name": arch, "timm_kwargs": kwargs, "interpolation": interp, "pool": pool}
        tiny = {**kwargs, **_TINY_TIMM, "dynamic_img_size": True}
        _register_with_twin(
            build_timm,
            {
                "name": f"vit/{name}",
                "weights": hub,
                "gated": gated,
                "published_params": params,
                "description": desc,
                "extra": extra,
            },
            {
                "name": f"vit/test-{name}",
                "description": f"tiny random twin of vit/{name} (same layer types) for tests",
                "extra": {**extra, "timm_kwargs": tiny},
            },
            family="vit",
            mean=mean,
            std=std,
            capabilities=VIT_CAPABILITIES,
            licence=licence,
        )


def _register_hf() -> None:
    for name, repo, cfg, hf_kwargs, interp, params, desc in HF_MODELS:
        extra = {
            "library": "transformers",
            "hf_config": cfg,
            "hf_kwargs": hf_kwargs,
            "interpolation": interp,
        }
        _register_with_twin(
            build_hf,
            {
                "name": f"vit/{name}",
                "weights": repo,
                "published_params": params,
                "description": desc,
                "extra": extra,
            },
            {
                "name": f"vit/test-{name}",
                "description": f"tiny random twin of vit/{name} for tests",
                "extra": {**extra, "hf_config": {**cfg, **_TINY_HF}},
            },
            family="vit",
            capabilities=VIT_CAPABILITIES,
            licence="owkin-non-commercial",
        )


def _register_clip() -> None:
    from breastbench.models.openclip_hub import build_open_clip_entry

    common = dict(family="clip", mean=OPENAI_MEAN, std=OPENAI_STD, capabilities=CLIP_CAPABILITIES)
    plip = {"hf_config": PLIP, "embed_dim": 512, "interpolation": "bicubic"}
    _register_with_twin(
        build_hf_clip,
        {
            "name": "clip/plip",
            "weights": "vinid/plip",
            "licence": "research-only (see model card)",
            "published_params": 151.0,
            "description": "PLIP: CLIP ViT-B/32 fine-tuned on OpenPath (Twitter pathology images)",
            "extra": plip,
        },
        {
            "name": "clip/test-plip",
            "licence": "mit",
            "description": "tiny random twin of clip/plip (transformers CLIP) for tests",
            "extra": {**plip, "hf_config": TINY_PLIP, "embed_dim": 16},
        },
        **common,
    )
    quilt = {"open_clip_arch": "ViT-B-32", "embed_dim": 512, "interpolation": "bicubic"}
    _register_with_twin(
        build_open_clip_entry,
        {
            "name": "clip/quiltnet-b-32",
            "weights": "hf-hub:wisdomik/QuiltNet-B-32",
            "licence": "mit",
            "published_params": 151.0,
            "description": "QuiltNet-B-32: open_clip ViT-B/32 fine-tuned on Quilt-1M (YouTube)",
            "extra": quilt,
        },
        {
            "name": "clip/test-quiltnet",
            "licence": "mit",
            "description": "tiny random twin of clip/quiltnet-b-32 (open_clip) for tests",
            "extra": {**quilt, "open_clip_cfg": copy.deepcopy(TINY_OPEN_CLIP), "embed_dim": 16},
        },
        **common,
    )


_register_timm()
_register_hf()
_register_clip()
