"""The one classifier interface shared by every family: ``features -> (B, D) -> linear head``.

CNNs, CLIP-style models and generative VLMs all subclass :class:`BreastModel`; zero-shot is a
head built from text embeddings, so linear probing, fine-tuning and LoRA share one training
path. A binary task has a single logit (sigmoid / BCEWithLogits), a C-class task C logits.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from breastbench.errors import UserError
from breastbench.models.registry import MODES, ModelInfo
from breastbench.modes import get_mode


def num_outputs_for(num_classes: int) -> int:
    """One logit for binary tasks (as in the study's BCEWithLogitsLoss), C otherwise."""
    return 1 if num_classes == 2 else num_classes


class BreastModel(nn.Module):
    """Base class: subclasses implement :meth:`features` and set ``feature_dim``.

    Images enter as float tensors (B, 3, H, W), resized to ``data_config["input_size"]`` and
    normalised with ``data_config["mean"/"std"]`` by the data pipeline; the transforms are
    always derived from ``data_config`` so preprocessing is never configured twice.
    """

    def __init__(self, info: ModelInfo, num_classes: int, feature_dim: int, weights_source: str):
        super().__init__()
        self.info = info
        self.num_classes = num_classes
        self.num_outputs = num_outputs_for(num_classes)
        self.feature_dim = feature_dim
        self.weights_source = weights_source  # "random" or what was actually loaded
        self.mode: str | None = None
        self.head = nn.Linear(feature_dim, self.num_outputs)
        # what ``create`` was called with, recorded in checkpoints so ``load_checkpoint`` can
        # rebuild the same architecture from the same weights
        self.weights_arg: str | None = None
        self.build_kwargs: dict = {}
        self.classes: list[str] | None = None  # class names, once known (e.g. zero-shot head)
        self._input_size: tuple[int, int, int] | None = None  # set when input_size is overridden

    # -- interface -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """Registry name, e.g. ``cnn/resnet34``."""
        return self.info.name

    @property
    def supported_modes(self) -> tuple[str, ...]:
        """Learning modes this family can run."""
        return self.info.modes

    @property
    def data_config(self) -> dict:
        """Input size, mean/std and interpolation the weights expect."""
        return {
            "input_size": tuple(self._input_size or self.info.input_size),
            "mean": tuple(self.info.mean),
            "std": tuple(self.info.std),
            "interpolation": self.info.extra.get("interpolation", "bicubic"),
        }

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled image features (B, D)."""
        raise NotImplementedError

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits (B, num_outputs)."""
        return self.head(self.features(images))

    def frozen_features(self, images: torch.Tensor) -> torch.Tensor:
        """What stays fixed under a frozen-backbone mode (cacheable); ``features`` by default."""
        return self.features(images)

    def cam_target_layer(self) -> nn.Module:
        """Module whose activations Grad-CAM explains; families with a conv trunk override."""
        raise UserError(f"model '{self.name}' has no Grad-CAM target layer")

    # -- checkpoints -------------------------------------------------------------------------
    def checkpoint_state(self) -> dict[str, torch.Tensor]:
        """Tensors a checkpoint must hold to reproduce this model's outputs.

        The head alone when the backbone is frozen and comes from reproducible weights
        (pretrained or a local file); the full state otherwise (fine-tuned, or random init that
        cannot be rebuilt). Families with adapters (LoRA) override this.
        """
        if self.backbone_frozen() and self.weights_source != "random":
            return {f"head.{k}": v for k, v in self.head.state_dict().items()}
        return dict(self.state_dict())

    def checkpoint_is_full(self) -> bool:
        """True when :meth:`checkpoint_state` holds every tensor (nothing to rebuild)."""
        return not (self.backbone_frozen() and self.weights_source != "random")

    def load_checkpoint_state(self, state: dict[str, torch.Tensor]) -> None:
        """Load tensors written by :meth:`checkpoint_state` (head-only or full)."""
        full = any(not k.startswith("head.") for k in state)
        missing, unexpected = self.load_state_dict(state, strict=full)
        assert not unexpected, f"unexpected checkpoint keys: {unexpected[:5]}"

    def checkpoint_meta(self) -> dict:
        """JSON-ready state a checkpoint needs beside its tensors (none by default)."""
        return {}

    def restore_checkpoint_meta(self, meta: dict) -> None:
        """Inverse of :meth:`checkpoint_meta`; called before :meth:`load_checkpoint_state`."""

    def set_input_size(self, input_size) -> None:
        """Override the input resolution (an int side or a (3, H, W) / (H, W) tuple)."""
        if isinstance(input_size, int):
            size = (3, input_size, input_size)
        else:
            size = tuple(int(v) for v in input_size)
            size = (3, *size) if len(size) == 2 else size
        if len(size) != 3 or size[0] != 3 or min(size) < 1:
            raise UserError(f"input_size must be an int or (H, W), got {input_size!r}")
        self._input_size = size

    # -- modes -----------------------------------------------------------------------------
    def check_mode(self, mode: str) -> None:
        """Raise a UserError when ``mode`` is unknown or this model cannot run it."""
        if mode not in MODES:
            raise UserError(f"unknown mode '{mode}'; allowed: {', '.join(MODES)}")
        if mode not in self.supported_modes:
            raise UserError(
                f"model '{self.name}' cannot run mode '{mode}'; "
                f"it supports: {', '.join(self.supported_modes)}"
            )

    def set_mode(self, mode: str) -> BreastModel:
        """Set ``requires_grad`` for ``mode``; the head always trains except under zero_shot."""
        self.check_mode(mode)
        self.mode = mode
        for p in self.parameters():
            p.requires_grad = mode == "finetune"
        for p in self.head.parameters():
            p.requires_grad = mode != "zero_shot"
        return self.train(self.training)

    def train(self, mode: bool = True) -> BreastModel:
        """Like ``nn.Module.train``, but a frozen backbone stays in eval mode.

        Otherwise linear probing would update BatchNorm running statistics and apply dropout
        inside the "frozen" backbone, so its features (and cached features) would drift.
        """
        super().train(mode)
        if mode and self.backbone_frozen():
            for child in self.children():
                child.train(child is self.head)
        return self

    def backbone_frozen(self) -> bool:
        """True when nothing but the head trains (features are cacheable)."""
        return self.mode is not None and get_mode(self.mode).frozen

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        """Parameters the optimiser should update under the current mode."""
        return (p for p in self.parameters() if p.requires_grad)

    def trainable_report(self) -> dict:
        """Total and trainable parameter counts (meta tensors count too)."""
        total = sum(p.numel() for p in self.parameters())
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        head = sum(p.numel() for p in self.head.parameters())
        by_part: dict[str, int] = {}
        for name, p in self.named_parameters():
            part = self.parameter_part(name)
            by_part[part] = by_part.get(part, 0) + (p.numel() if p.requires_grad else 0)
        return {
            "model": self.name,
            "mode": self.mode,
            "total_params": total,
            "trainable_params": trainable,
            "head_params": head,
            "trainable_fraction": trainable / total if total else 0.0,
            "trainable_by_part": by_part,
        }

    def parameter_part(self, name: str) -> str:
        """Part of the model a parameter name belongs to (``head`` or ``backbone`` here).

        Families with named parts (a VLM's vision/connector/decoder) override this, so
        :meth:`trainable_report` counts trainable parameters per part.
        """
        return "head" if name.startswith("head.") else "backbone"
