"""Parameter counts of any registered model without weights, built on the meta device.

``torch.device("meta")`` allocates no memory and loads nothing, so the real architectures
(VGG19, BiomedCLIP, Qwen2-VL-2B) are counted in seconds on a laptop. CNNs are counted with
their original 1000-class ImageNet head unless ``num_classes`` is given, so the totals match
the published numbers (ResNet34 21.8M, VGG19 143.7M); other families default to 2 classes.
"""

from __future__ import annotations

import torch

from breastbench.models.registry import get_info

IMAGENET_CLASSES = 1000


def default_num_classes(name: str) -> int:
    """1000 (the ImageNet head) for CNNs, 2 otherwise."""
    return IMAGENET_CLASSES if get_info(name).family == "cnn" else 2


def model_info(
    name: str, mode: str | None = None, num_classes: int | None = None, options: dict | None = None
) -> dict:
    """Metadata and parameter counts of ``name`` under ``mode`` (default: its first mode).

    ``options`` are what a config's model entry takes under ``options:`` (e.g. ``lora_r``).
    """
    from breastbench.models import check_options, create

    info = get_info(name)
    check_options(name, options or {})
    mode = mode or info.modes[0]
    n = num_classes or default_num_classes(name)
    with torch.device("meta"):
        model = create(name, n, weights=None, **(options or {}))
    model.set_mode(mode)
    report = model.trainable_report()
    return {
        "name": name,
        "family": info.family,
        "mode": mode,
        "num_classes": n,
        "options": dict(options or {}),
        "total_params": report["total_params"],
        "trainable_params": report["trainable_params"],
        "head_params": report["head_params"],
        "trainable_by_part": report["trainable_by_part"],
        **{k: report[k] for k in ("lora_scope", "vision_trainable") if k in report},
        "input_size": list(model.data_config["input_size"]),
        "mean": list(model.data_config["mean"]),
        "std": list(model.data_config["std"]),
        "weights": info.weights,
        "licence": info.licence,
        "gated": info.gated,
        "published_params_m": info.published_params,
        "interpolation": model.data_config.get("interpolation"),
        "modes": list(info.modes),
        "description": info.description,
    }
