"""State dicts in the formats users hold, renamed into the layout timm's converters read.

timm's own converters (``checkpoint_filter_fn`` of each architecture) take the original
authors' checkpoints (e.g. Facebook's ConvNeXt ``downsample_layers``/``stages`` names, open_clip
towers) but not torchvision's ``features.*`` layout. :func:`to_timm_source` renames a
torchvision checkpoint into the original authors' names so timm's converter then does the
rest, and :func:`expected_formats` is the one line naming what a model accepts when a file
matches none of them.
"""

from __future__ import annotations

import re

import torch

#: model family -> the formats its loader accepts, for the one-line error
FORMATS = {
    "convnext": (
        "a timm ConvNeXt state dict (stem.*, stages.*), the original facebookresearch one "
        "(downsample_layers.*, stages.*), torchvision's convnext_* state_dict() (features.*) "
        "or an open_clip ConvNeXt (visual.trunk.*)"
    ),
}


def family_of(timm_name: str) -> str | None:
    """The converter family of a timm architecture name (``convnext_tiny`` -> ``convnext``)."""
    return next((f for f in FORMATS if timm_name.startswith(f)), None)


def expected_formats(timm_name: str) -> str:
    """The accepted checkpoint formats of ``timm_name``, or timm's own as the fallback."""
    family = family_of(timm_name)
    return FORMATS[family] if family else f"a timm {timm_name} state dict"


def is_torchvision_convnext(state: dict) -> bool:
    """True for the keys of ``torchvision.models.convnext_*().state_dict()``."""
    return "features.0.0.weight" in state and "features.1.0.block.0.weight" in state


def torchvision_convnext_to_original(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Torchvision ConvNeXt -> facebookresearch ConvNeXt names (what timm's filter reads).

    torchvision keeps stem, stages and downsamplers in one ``features`` sequence: index 0 is the
    stem, odd indices the stages (each block a ``block`` sequence dwconv/permute/norm/pw1/GELU/
    pw2 plus ``layer_scale`` of shape (C, 1, 1)), even indices >= 2 the downsamplers; the final
    norm and the linear head are ``classifier.0`` and ``classifier.2``.
    """
    block_parts = {"0": "dwconv", "2": "norm", "3": "pwconv1", "5": "pwconv2"}
    out = {}
    for key, value in state.items():
        m = re.fullmatch(r"features\.(\d+)\.(\d+)\.(.+)", key)
        if m:
            idx, sub, rest = int(m[1]), m[2], m[3]
            if idx == 0:
                out[f"downsample_layers.0.{sub}.{rest}"] = value
            elif idx % 2 == 1:
                stage = f"stages.{(idx - 1) // 2}.{sub}"
                b = re.fullmatch(r"block\.(\d+)\.(.+)", rest)
                if b and b[1] in block_parts:
                    out[f"{stage}.{block_parts[b[1]]}.{b[2]}"] = value
                elif rest == "layer_scale":
                    out[f"{stage}.gamma"] = value.reshape(-1)
                else:
                    out[key] = value  # unknown: left for the strict load to name
            else:
                out[f"downsample_layers.{idx // 2}.{sub}.{rest}"] = value
            continue
        if key.startswith("classifier.0."):
            out["norm." + key.removeprefix("classifier.0.")] = value
        elif key.startswith("classifier.2."):
            out["head." + key.removeprefix("classifier.2.")] = value
        else:
            out[key] = value
    return out


def to_timm_source(timm_name: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a state dict held in another library's layout into the one timm's filter reads."""
    if family_of(timm_name) == "convnext" and is_torchvision_convnext(state):
        return torchvision_convnext_to_original(state)
    return state
