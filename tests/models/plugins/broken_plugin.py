"""A plugin that breaks the interface: no features(), no data_config."""

from torch import nn


def build(num_classes: int) -> nn.Module:
    """Returns a module without the interface."""
    net = nn.Linear(3, 4)
    net.feature_dim = 4
    return net
