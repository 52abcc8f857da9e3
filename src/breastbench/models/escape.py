"""Escape hatches: any timm, open_clip or transformers vision model by name, no registry edit.

- ``timm/<architecture[.tag]>`` or ``timm/hf-hub:<org>/<repo>``: the architecture and its
  preprocessing come from timm's pretrained config (or the repo's ``config.json``);
- ``open_clip/<architecture>`` or ``open_clip/hf-hub:<org>/<repo>``: open_clip's bundled config
  or the repo's ``open_clip_config.json``; zero-shot capable;
- ``hf/<repo id or local folder>``: a transformers vision encoder from its ``config.json``
  (and ``preprocessor_config.json``); CLIP configs become zero-shot capable CLIP models.

Only small metadata files are fetched to describe a model; weights load only for
``weights: pretrained`` (or a local path). ``trust_remote_code`` is never set.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from breastbench.errors import UserError
from breastbench.models import weights as W
from breastbench.models.clip import CLIP_CAPABILITIES, OPENAI_MEAN, OPENAI_STD
from breastbench.models.encoders import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    VIT_CAPABILITIES,
    build_hf,
    build_timm,
    with_preprocessing,
)
from breastbench.models.registry import ModelInfo, register_resolver


def _size(cfg: dict, default=(3, 224, 224)) -> tuple[int, int, int]:
    return tuple(int(v) for v in cfg.get("input_size", default))


@register_resolver("timm/")
def resolve_timm(name: str):
    """``timm/<name>`` -> an encoder with timm's own preprocessing for that name."""
    import timm

    rest = name.removeprefix("timm/")
    if rest.startswith(("hf-hub:", "hf_hub:")):
        repo = rest.split(":", 1)[1]
        cfg_file = W.hf_file(repo, ("config.json",), name)
        cfg = json.loads(cfg_file.read_text())
        arch = cfg.get("architecture")
        if not arch or not timm.is_model(arch):
            raise UserError(
                f"model '{name}': {repo}/config.json names no timm architecture known to timm "
                f"{timm.__version__} (got {arch!r}); upgrade timm or use a plugin file"
            )
        kwargs, pcfg = dict(cfg.get("model_args", {})), cfg.get("pretrained_cfg", {})
        weights = f"hf-hub:{repo}"
    else:
        arch = rest.split(".")[0]
        if not timm.is_model(arch):
            raise UserError(
                f"model '{name}': timm has no architecture '{arch}'; see timm.list_models()"
            )
        kwargs = {}
        try:
            pcfg = timm.models.get_pretrained_cfg(rest).to_dict()
        except (RuntimeError, AttributeError):
            pcfg = {}
        hub = pcfg.get("hf_hub_id")
        weights = f"hf-hub:{hub}" if hub else "random"
    info = ModelInfo(
        name=name,
        family="timm",
        weights=weights,
        input_size=_size(pcfg),
        mean=tuple(pcfg.get("mean", IMAGENET_MEAN)),
        std=tuple(pcfg.get("std", IMAGENET_STD)),
        capabilities=VIT_CAPABILITIES,
        licence=str(pcfg.get("license", "see model page")),
        description=f"timm {arch} (escape hatch)",
        extra={
            "timm_name": arch,
            "timm_kwargs": kwargs,
            "interpolation": pcfg.get("interpolation", "bicubic"),
        },
    )
    return info, build_timm


@register_resolver("open_clip/")
def resolve_open_clip(name: str):
    """``open_clip/<arch or hf-hub id>`` -> a zero-shot capable CLIP model."""
    import open_clip

    from breastbench.models.openclip_hub import CONFIG, build_open_clip_entry

    rest = name.removeprefix("open_clip/")
    extra: dict = {"interpolation": "bicubic"}
    if rest.startswith(("hf-hub:", "hf_hub:")):
        repo = rest.split(":", 1)[1]
        cfg = json.loads(W.hf_file(repo, (CONFIG,), name).read_text())
        pp = cfg.get("preprocess_cfg", {})
        model_cfg, weights = cfg["model_cfg"], f"hf-hub:{repo}"
        extra["open_clip_cfg"] = model_cfg
        mean, std = tuple(pp.get("mean", OPENAI_MEAN)), tuple(pp.get("std", OPENAI_STD))
        extra["interpolation"] = pp.get("interpolation", "bicubic")
    else:
        model_cfg = open_clip.get_model_config(rest)
        if model_cfg is None:
            raise UserError(
                f"model '{name}': open_clip has no architecture '{rest}'; see "
                "open_clip.list_models(), or use open_clip/hf-hub:<org>/<repo>"
            )
        weights, mean, std = "random", OPENAI_MEAN, OPENAI_STD
        extra["open_clip_arch"] = rest
    side = model_cfg.get("vision_cfg", {}).get("image_size", 224)
    extra["embed_dim"] = model_cfg["embed_dim"]
    info = ModelInfo(
        name=name,
        family="clip",
        weights=weights,
        input_size=(3, side, side) if isinstance(side, int) else (3, *side),
        mean=mean,
        std=std,
        capabilities=CLIP_CAPABILITIES,
        licence="see model page",
        description="open_clip model (escape hatch)",
        extra=extra,
    )
    return info, build_open_clip_entry


def _hf_folder(name: str, rest: str) -> tuple[Path, str]:
    """(folder with config.json, weights source) for a repo id or a local folder."""
    local = Path(rest).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise UserError(f"model '{name}': no config.json in folder {local}")
        return local, str(local)
    folder = W.hf_file(rest, ("config.json",), name).parent
    try:
        W.hf_file(rest, ("preprocessor_config.json",), name)
    except UserError:
        pass  # optional: ImageNet preprocessing then
    return folder, rest


@register_resolver("hf/")
def resolve_hf(name: str):
    """``hf/<repo or folder>`` -> a transformers vision encoder (or CLIP) from its config."""
    from breastbench.models.encoders import hf_vision_config
    from breastbench.models.hf_clip import build_hf_clip

    rest = name.removeprefix("hf/")
    folder, weights = _hf_folder(name, rest)
    cfg = json.loads((folder / "config.json").read_text())
    hf_vision_config(cfg)  # refuses remote code and unknown model types early
    clip = cfg.get("model_type") == "clip"
    info = ModelInfo(
        name=name,
        family="clip" if clip else "hf",
        weights=weights,
        mean=OPENAI_MEAN if clip else IMAGENET_MEAN,
        std=OPENAI_STD if clip else IMAGENET_STD,
        capabilities=CLIP_CAPABILITIES if clip else VIT_CAPABILITIES,
        licence="see model page",
        description=f"transformers {cfg.get('model_type')} (escape hatch)",
        extra={
            "library": "transformers",
            "hf_config": cfg,
            "embed_dim": cfg.get("projection_dim", 512),
            "interpolation": "bicubic",
        },
    )
    side = (cfg.get("vision_config") or {}).get("image_size") if clip else cfg.get("image_size")
    if side:  # the config's resolution, unless the preprocessor says otherwise
        side = int(side if isinstance(side, int) else side[-1])
        info = dataclasses.replace(info, input_size=(3, side, side))
    info = with_preprocessing(info, folder)
    local = weights if Path(weights).is_dir() else None

    def builder(info: ModelInfo, num_classes: int, weights=None, input_size=None):
        if W.kind_of(weights) == W.PRETRAINED and local is not None:
            weights = local  # a local folder's "pretrained" weights are its own files
        build = build_hf_clip if clip else build_hf
        return build(info, num_classes, weights=weights, input_size=input_size)

    return info, builder
