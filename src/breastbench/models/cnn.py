"""CNN family: ImageNet CNNs from timm (ResNet34, VGG19, ConvNeXt) and torchvision (AlexNet).

Each variant is one registered entry with a frozen :class:`ModelInfo`; the builder creates the
trunk without its classifier (``num_classes=0`` in timm), so ``features`` is the pooled
pre-logits vector and ``head`` the only task-specific layer. Pretrained weights are fetched by
:mod:`breastbench.models.weights` (HF cache / torchvision cache / local path), converted with the
architecture's timm checkpoint filter, and loaded strictly.

Parameter-matched training: option ``finetune_stages: N`` trains only the last N stages of the
trunk (``ModelInfo.extra["stages"]``, e.g. ResNet's layer1-layer4) plus the head under mode
``finetune`` (other modes ignore it); mode ``lora`` puts peft LoRA adapters (``lora_r``,
``lora_alpha``, ``lora_dropout``) on every Conv2d and Linear layer of the trunk and trains them
with the head. Normalisation layers whose parameters are frozen stay in eval mode, so their
running statistics do not drift.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable

import torch
from torch import nn

from breastbench.errors import UserError
from breastbench.models import convert
from breastbench.models import weights as W
from breastbench.models.adapters import DEFAULT_LORA, LoraOptions, PeftLoraMixin
from breastbench.models.base import BreastModel
from breastbench.models.registry import ModelInfo, register

CNN_CAPABILITIES = ("features", "finetune", "lora")


def _in_stage(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


class CNNModel(PeftLoraMixin, BreastModel):
    """A CNN trunk returning pooled features (B, D) plus a linear head."""

    lora_attr = "trunk"

    def __init__(
        self,
        info: ModelInfo,
        num_classes: int,
        trunk: nn.Module,
        dim: int,
        source: str,
        finetune_stages: int | None = None,
        lora: LoraOptions | None = None,
    ):
        super().__init__(info, num_classes, feature_dim=dim, weights_source=source)
        self.trunk = trunk
        self.lora_options = lora or DEFAULT_LORA
        stages = self.stages
        if finetune_stages is not None and (
            not isinstance(finetune_stages, int)
            or isinstance(finetune_stages, bool)
            or not 1 <= finetune_stages <= len(stages)
        ):
            raise UserError(
                f"finetune_stages for '{info.name}' must be an integer in 1..{len(stages)} "
                f"(its stages: {', '.join('+'.join(s) for s in stages)}), got {finetune_stages!r}"
            )
        self.finetune_stages = finetune_stages

    @property
    def stages(self) -> tuple[tuple[str, ...], ...]:
        """Trunk stages in forward order, each a tuple of module-name prefixes."""
        return tuple(tuple(s) for s in self.info.extra.get("stages", ()))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled pre-logits features of the trunk (B, D)."""
        return self.trunk(images)

    def cam_target_layer(self) -> nn.Module:
        """The last convolutional block, the usual Grad-CAM target."""
        return self.lora_base().get_submodule(self.info.extra["cam_layer"])

    def set_mode(self, mode: str) -> CNNModel:
        """As the base class; under finetune with ``finetune_stages`` only the last N train."""
        super().set_mode(mode)
        if mode == "finetune" and self.finetune_stages is not None:
            keep = [p for s in self.stages[-self.finetune_stages :] for p in s]
            for name, p in self.trunk.named_parameters():
                p.requires_grad = _in_stage(name, tuple(keep))
            self.train(self.training)
        return self

    def train(self, mode: bool = True) -> CNNModel:
        """Like the base class; normalisation layers with frozen parameters stay in eval."""
        super().train(mode)
        if mode:
            for m in self.trunk.modules():
                params = list(m.parameters(recurse=False))
                norm = isinstance(m, nn.modules.batchnorm._BatchNorm)
                if norm and params and not any(p.requires_grad for p in params):
                    m.eval()
        return self

    def parameter_part(self, name: str) -> str:
        """``head``, ``stageK`` (1-based, per ``stages``) or ``stem`` for the rest of the trunk."""
        if name.startswith("head."):
            return "head"
        name = name.removeprefix("trunk.").removeprefix("base_model.model.")
        for i, prefixes in enumerate(self.stages):
            if _in_stage(name, prefixes):
                return f"stage{i + 1}"
        return "stem"

    def trainable_report(self) -> dict:
        """Parameter counts per stage, plus ``finetune_stages`` when set."""
        report = super().trainable_report()
        if self.finetune_stages is not None:
            report["finetune_stages"] = self.finetune_stages
        return report


# -- timm -----------------------------------------------------------------------------------
def _timm_trunk(info: ModelInfo, weights) -> tuple[nn.Module, str]:
    """Create the classifier-free timm trunk and load the requested weights into it."""
    import timm

    # fetch before building: a missing file fails fast, without initialising a large model
    found = W.resolve(info, weights, hub_files=("model.safetensors", "pytorch_model.bin"))
    if found.path is None:
        return timm.create_model(info.extra["timm_name"], num_classes=0), W.RANDOM
    path, source = found.path, found.source
    trunk = timm.create_model(info.extra["timm_name"], pretrained=False, num_classes=0)
    state = _timm_filter(info, trunk, W.read_state_dict(path))
    # strict: timm's own loader turns strict off when it drops the classifier, which would let a
    # wrong file leave the trunk silently random
    W.load_into(trunk, state, info.name, str(path))
    return trunk, source


def _timm_filter(info: ModelInfo, trunk: nn.Module, state: dict) -> dict:
    """Convert a checkpoint to the trunk's layout and drop the ImageNet classifier.

    The converter is the architecture's timm filter (e.g. torchvision VGG -> timm VGG), as in
    timm's own pretrained loader.
    """
    timm_name = info.extra["timm_name"]
    state = convert.to_timm_source(timm_name, state)
    if "timm_filter" in info.extra:
        module, fn_name = info.extra["timm_filter"].split(":")
        fn = getattr(importlib.import_module(module), fn_name)
        takes_model = len(inspect.signature(fn).parameters) > 1
        try:
            state = fn(state, trunk) if takes_model else fn(state)
        except (KeyError, RuntimeError, ValueError) as err:  # names timm's converter cannot map
            raise UserError(
                f"weights for '{info.name}' are in an unrecognised format (key {err} does not "
                f"map); expected {convert.expected_formats(timm_name)}"
            ) from None
    clf = trunk.pretrained_cfg.get("classifier") or ()
    prefixes = tuple(f"{c}." for c in ((clf,) if isinstance(clf, str) else clf))
    return {k: v for k, v in state.items() if not (prefixes and k.startswith(prefixes))}


def _cnn_builder(trunk_of: Callable[[ModelInfo, object], tuple[nn.Module, int, str]]):
    """A registry builder: ``trunk_of(info, weights)`` -> (trunk, feature width, source)."""

    def build(
        info: ModelInfo,
        num_classes: int,
        weights=None,
        input_size=None,
        finetune_stages=None,
        lora: LoraOptions = DEFAULT_LORA,
    ) -> CNNModel:
        trunk, dim, source = trunk_of(info, weights)
        model = CNNModel(info, num_classes, trunk, dim, source, finetune_stages, lora)
        if input_size is not None:
            model.set_input_size(input_size)
        return model

    return build


def _timm_features(info: ModelInfo, weights) -> tuple[nn.Module, int, str]:
    trunk, source = _timm_trunk(info, weights)
    # pre-logits width: VGG's conv-MLP makes it 4096 while num_features is 512
    return trunk, getattr(trunk, "head_hidden_size", None) or trunk.num_features, source


_build_timm = _cnn_builder(_timm_features)


# -- torchvision AlexNet --------------------------------------------------------------------
class AlexNetTrunk(nn.Module):
    """torchvision AlexNet minus its last linear layer: features + avgpool + fc6/fc7 (D=4096).

    Attribute names match torchvision's so its checkpoints load after dropping ``classifier.6``.
    """

    def __init__(self):
        super().__init__()
        from torchvision.models import alexnet

        net = alexnet(weights=None)
        self.features, self.avgpool = net.features, net.avgpool
        self.classifier = net.classifier[:-1]
        self.num_features = net.classifier[-1].in_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled 4096-D fc7 activations."""
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def _alexnet_url() -> str:
    from torchvision.models import AlexNet_Weights

    return AlexNet_Weights.IMAGENET1K_V1.url


def _alexnet_features(info: ModelInfo, weights) -> tuple[nn.Module, int, str]:
    found = W.resolve(info, weights, fetch=lambda: W.url_file(_alexnet_url(), info.name))
    path, source = found.path, found.source
    trunk = AlexNetTrunk()
    if path is not None:
        state = {
            k: v for k, v in W.read_state_dict(path).items() if not k.startswith("classifier.6.")
        }
        W.load_into(trunk, state, info.name, str(path))
    return trunk, trunk.num_features, source


_build_alexnet = _cnn_builder(_alexnet_features)


# -- registry -------------------------------------------------------------------------------
RESNET_STAGES = (("layer1",), ("layer2",), ("layer3",), ("layer4",))
CONVNEXT_STAGES = (("stages.0",), ("stages.1",), ("stages.2",), ("stages.3", "head.norm"))
# VGG-19: the five conv blocks (each ends in a max-pool), then the conv-MLP (fc6/fc7)
VGG19_STAGES = (
    *(tuple(f"features.{i}" for i in range(a, b)) for a, b in ((0, 5), (5, 10), (10, 19))),
    *(tuple(f"features.{i}" for i in range(a, b)) for a, b in ((19, 28), (28, 37))),
    ("pre_logits",),
)
# AlexNet: conv1, conv2, conv3-5, then fc6/fc7
ALEXNET_STAGES = (
    ("features.0",),
    ("features.3",),
    ("features.6", "features.8", "features.10"),
    ("classifier",),
)


def _timm_info(
    name, timm_name, tag, licence, cam, stages, interpolation="bicubic", timm_filter=None, **kw
) -> ModelInfo:
    extra = {
        "timm_name": timm_name,
        "cam_layer": cam,
        "interpolation": interpolation,
        "stages": stages,
    }
    if timm_filter:  # "module:function" converting foreign checkpoints to timm's layout
        extra["timm_filter"] = timm_filter
    return ModelInfo(
        name=name,
        family="cnn",
        weights=f"hf-hub:timm/{timm_name}.{tag}" if tag else "random",
        capabilities=CNN_CAPABILITIES,
        licence=licence,
        extra=extra,
        **kw,
    )


_TIMM_VARIANTS = (
    _timm_info(
        "cnn/resnet34",
        "resnet34",
        "a1_in1k",
        "apache-2.0",
        "layer4",
        RESNET_STAGES,
        description="ResNet-34, ImageNet-1k (timm a1 recipe)",
    ),
    _timm_info(
        "cnn/vgg19",
        "vgg19",
        "tv_in1k",
        "bsd-3-clause",
        "features",
        VGG19_STAGES,
        interpolation="bilinear",
        timm_filter="timm.models.vgg:_filter_fn",
        description="VGG-19, ImageNet-1k (torchvision weights)",
    ),
    _timm_info(
        "cnn/convnext_tiny",
        "convnext_tiny",
        "in12k_ft_in1k",
        "apache-2.0",
        "stages.3",
        CONVNEXT_STAGES,
        timm_filter="timm.models.convnext:checkpoint_filter_fn",
        description="ConvNeXt-T, ImageNet-12k -> 1k",
    ),
    _timm_info(
        "cnn/convnext_small",
        "convnext_small",
        "in12k_ft_in1k",
        "apache-2.0",
        "stages.3",
        CONVNEXT_STAGES,
        timm_filter="timm.models.convnext:checkpoint_filter_fn",
        description="ConvNeXt-S, ImageNet-12k -> 1k",
    ),
    _timm_info(
        "cnn/convnext_base",
        "convnext_base",
        "fb_in22k_ft_in1k",
        "apache-2.0",
        "stages.3",
        CONVNEXT_STAGES,
        timm_filter="timm.models.convnext:checkpoint_filter_fn",
        description="ConvNeXt-B, ImageNet-22k -> 1k",
    ),
    _timm_info(
        "cnn/test-resnet",
        "test_resnet",
        "",
        "apache-2.0",
        "layer4",
        RESNET_STAGES,
        input_size=(3, 64, 64),
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        interpolation="bilinear",
        test_variant=True,
        description="tiny random timm ResNet (0.4M params) for tests and the demo",
    ),
)
for _info in _TIMM_VARIANTS:
    register(_info)(_build_timm)

ALEXNET = ModelInfo(
    name="cnn/alexnet",
    family="cnn",
    weights="torchvision:AlexNet_Weights.IMAGENET1K_V1",
    capabilities=CNN_CAPABILITIES,
    licence="bsd-3-clause",
    description="AlexNet, ImageNet-1k (torchvision); features = fc7 (4096-D)",
    extra={"cam_layer": "features", "interpolation": "bilinear", "stages": ALEXNET_STAGES},
)
register(ALEXNET)(_build_alexnet)
