"""Data layer: manifests, sources, image reading, synthetic data and patient-level folds.

Everything downstream (training, metrics, reports) consumes a manifest built here; see
``docs/DESIGN.md`` for the column contract.
"""

from breastbench.data.folds import assign_folds, audit_folds
from breastbench.data.imageio import read_image
from breastbench.data.manifest import read_manifest, validate_manifest, write_manifest
from breastbench.data.sources import SOURCES, load_manifest
from breastbench.data.synthetic import synthesize

__all__ = [
    "SOURCES",
    "assign_folds",
    "audit_folds",
    "load_manifest",
    "read_image",
    "read_manifest",
    "synthesize",
    "validate_manifest",
    "write_manifest",
]
