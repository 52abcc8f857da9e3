"""Learning modes: one :class:`Mode` per way of using a backbone, in one registry.

Adding a probe-like mode is one file that calls :func:`register_mode` (see
:mod:`breastbench.modes.knn` for the shape and docs/DESIGN.md, "Learning modes").
"""

from breastbench.modes.registry import (
    CAPABILITIES,
    Mode,
    get_mode,
    is_known,
    load_plugin,
    mode_names,
    modes,
    probe_names,
    register_mode,
    supported_modes,
)

__all__ = [
    "CAPABILITIES",
    "Mode",
    "get_mode",
    "is_known",
    "load_plugin",
    "mode_names",
    "modes",
    "probe_names",
    "register_mode",
    "supported_modes",
]
