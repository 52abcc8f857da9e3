"""A user's own model in one file: a tiny CNN with the documented plugin interface."""

import torch
from torch import nn

MODES = ("linear_probe", "finetune")
LICENCE = "mit"


class TinyNet(nn.Module):
    """Two convolutions and global average pooling: features (B, 8)."""

    feature_dim = 8
    data_config = {"input_size": (3, 32, 32), "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5)}

    def __init__(self, width: int = 8):
        super().__init__()
        self.feature_dim = width
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1)
        )

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Global-average-pooled activations (B, width)."""
        return self.body(images).mean((2, 3))


def build(num_classes: int, width: int = 8) -> nn.Module:
    """The plugin entry point breastbench calls."""
    return TinyNet(width)
