"""Vision-encoder family (``vit``): timm and transformers image encoders with a linear head.

Pathology foundation models (UNI, Virchow2, H-optimus-0, Phikon, ...) are plain ViTs: the
encoder's pooled embedding is ``features`` and the head is the only task layer, exactly as for a
CNN. Architectures are data: a registry entry names the timm model plus the keyword arguments its
authors publish (``extra["timm_kwargs"]``, layer classes given as strings such as
``"SwiGLUPacked"``), or a transformers config (``extra["hf_config"]``), so every entry builds on
the meta device without a download. Weights come through :mod:`breastbench.models.weights`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import torch
from torch import nn

from breastbench.errors import UserError
from breastbench.models import weights as W
from breastbench.models.base import BreastModel
from breastbench.models.registry import ModelInfo

VIT_CAPABILITIES = ("features", "finetune")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# timm keyword values published as class objects; configs name them as strings
_LAYERS = {"SwiGLUPacked": "timm.layers:SwiGLUPacked", "SiLU": "torch.nn:SiLU"}
HF_CONFIG_FILES = ("config.json",)
HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class EncoderModel(BreastModel):
    """An image encoder returning pooled embeddings (B, D), plus a linear head."""

    def __init__(self, info: ModelInfo, num_classes: int, encoder: nn.Module, dim: int, source):
        super().__init__(info, num_classes, feature_dim=dim, weights_source=source)
        self.encoder = encoder

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled embedding of the encoder (B, D), as its authors pool it."""
        pool = self.info.extra.get("pool", "default")
        if self.info.extra.get("library") == "transformers":
            out = self.encoder(pixel_values=images)
            if out.last_hidden_state.dim() == 3:  # tokens: the class token (Phikon, DINOv2)
                return out.last_hidden_state[:, 0]
            return out.pooler_output.flatten(1)  # conv encoders (ConvNeXt, ResNet): pooled map
        if pool == "cls_mean_patch":  # Virchow2: class token beside the mean patch token
            tokens = self.encoder.forward_features(images)
            patches = tokens[:, self.encoder.num_prefix_tokens :]
            return torch.cat([tokens[:, 0], patches.mean(1)], dim=-1)
        return self.encoder(images)


# -- timm -----------------------------------------------------------------------------------
def timm_kwargs(info: ModelInfo) -> dict:
    """The published timm keyword arguments, layer names turned into classes."""
    import importlib

    out = {}
    for key, value in info.extra.get("timm_kwargs", {}).items():
        if isinstance(value, str) and value in _LAYERS:
            module, attr = _LAYERS[value].split(":")
            value = getattr(importlib.import_module(module), attr)
        out[key] = value
    return out


def _timm_dim(trunk: nn.Module, pool: str) -> int:
    dim = getattr(trunk, "head_hidden_size", None) or trunk.num_features
    return 2 * dim if pool == "cls_mean_patch" else dim


def build_timm(info: ModelInfo, num_classes: int, weights=None, input_size=None) -> EncoderModel:
    """Build a timm encoder entry: published kwargs, then random, hub or local weights."""
    import timm

    found = W.resolve(info, weights, hub_files=HF_WEIGHT_FILES)
    path, source = found.path, found.source
    kwargs = timm_kwargs(info)
    kwargs.setdefault("num_classes", 0)
    trunk = timm.create_model(info.extra["timm_name"], pretrained=False, **kwargs)
    if path is not None:
        clf = trunk.pretrained_cfg.get("classifier") or "head"
        drop = tuple(f"{c}." for c in ((clf,) if isinstance(clf, str) else clf))
        state = {k: v for k, v in W.read_state_dict(path).items() if not k.startswith(drop)}
        W.load_into(trunk, state, info.name, str(path))
    model = EncoderModel(
        info, num_classes, trunk, _timm_dim(trunk, info.extra.get("pool", "")), source
    )
    if input_size is not None:
        _check_dynamic(info, trunk, input_size)
        model.set_input_size(input_size)
    return model


def _check_dynamic(info: ModelInfo, trunk: nn.Module, input_size) -> None:
    side = input_size if isinstance(input_size, int) else int(tuple(input_size)[-1])
    fixed = not getattr(getattr(trunk, "patch_embed", None), "dynamic_img_size", True)
    if fixed and side != info.input_size[-1]:
        raise UserError(
            f"model '{info.name}' has a fixed input size of {info.input_size[-1]}; "
            f"remove input_size={input_size}"
        )


# -- transformers ---------------------------------------------------------------------------
def hf_vision_config(cfg: dict):
    """A transformers config object from a config dict (no remote code, ever)."""
    from transformers import AutoConfig

    cfg = dict(cfg)
    model_type = cfg.pop("model_type", None)
    if not model_type:
        raise UserError("transformers config has no model_type; it cannot be built")
    if cfg.get("auto_map"):
        raise UserError(
            f"model type '{model_type}' needs remote code (auto_map); breastbench never sets "
            "trust_remote_code: use a plugin file (`name: plugin:my_model.py:build`) instead"
        )
    try:
        return AutoConfig.for_model(model_type, **cfg)
    except ValueError as err:
        raise UserError(f"transformers does not know model type '{model_type}' ({err})") from None


def build_hf(info: ModelInfo, num_classes: int, weights=None, input_size=None) -> EncoderModel:
    """Build a transformers vision encoder (ViTModel, Dinov2Model, ...) from its config."""
    from transformers import AutoModel

    found = W.resolve(info, weights, snapshot=[*HF_CONFIG_FILES, *HF_WEIGHT_FILES])
    kind, folder, source = found.kind, found.folder, found.source
    cfg = dict(info.extra["hf_config"])
    if folder is not None and (folder / "config.json").is_file():
        cfg = json.loads((folder / "config.json").read_text())
    config = hf_vision_config(cfg)
    hf_kwargs = info.extra.get("hf_kwargs", {})
    if folder is not None and kind != W.RANDOM:
        encoder = hf_from_folder(AutoModel, folder, config, info.name, **hf_kwargs)
    else:
        encoder = AutoModel.from_config(config, **hf_kwargs)
        if kind != W.RANDOM:  # a single state-dict file, e.g. saved from this model
            path = W.local_file(weights, info.name)
            state = W.read_state_dict(path)
            prefix = f"{encoder.base_model_prefix}."
            state = {k.removeprefix(prefix): v for k, v in state.items()}
            keep = set(encoder.state_dict())
            W.load_into(
                encoder, {k: v for k, v in state.items() if k in keep}, info.name, str(path)
            )
    dim = getattr(config, "hidden_size", None) or config.hidden_sizes[-1]
    model = EncoderModel(info, num_classes, encoder, dim, source)
    if input_size is not None:
        model.set_input_size(input_size)
    return model


def hf_from_folder(cls, folder: Path, config, name: str, **kwargs):
    """``cls.from_pretrained(folder)``: transformers' own key conversion, no remote code."""
    try:
        return cls.from_pretrained(str(folder), config=config, trust_remote_code=False, **kwargs)
    except (OSError, ValueError, RuntimeError) as err:
        msg = f"weights in {folder} do not load into model '{name}' ({W._short(err)})"
        raise UserError(msg) from None


def with_preprocessing(info: ModelInfo, folder: Path | None) -> ModelInfo:
    """``info`` with mean/std/size/interpolation read from a ``preprocessor_config.json``."""
    if folder is None or not (folder / "preprocessor_config.json").is_file():
        return info
    pp = json.loads((folder / "preprocessor_config.json").read_text())
    size = pp.get("crop_size") or pp.get("size") or {}
    side = size.get("height") or size.get("shortest_edge") if isinstance(size, dict) else size
    resample = {0: "nearest", 2: "bilinear", 3: "bicubic"}.get(pp.get("resample"), "bicubic")
    extra = {**info.extra, "interpolation": resample}
    return dataclasses.replace(
        info,
        mean=tuple(pp.get("image_mean", info.mean)),
        std=tuple(pp.get("image_std", info.std)),
        input_size=(3, int(side), int(side)) if side else info.input_size,
        extra=extra,
    )
