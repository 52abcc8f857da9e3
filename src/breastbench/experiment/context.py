"""What every run of one experiment shares.

The config, the output folder, the device, the manifests with their folds and the in-memory
image stores (one per image list and preprocessing, shared by a configuration's folds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from breastbench.experiment.config import ExperimentConfig
from breastbench.experiment.images import ImageStore
from breastbench.models.preprocess import Preprocessing
from breastbench.results import RunFolder


@dataclass
class RunContext:
    """What every run of one experiment shares."""

    cfg: ExperimentConfig
    out_dir: Path
    device: torch.device
    manifests: dict[str, pd.DataFrame]  # dataset name -> manifest with folds
    cache_dir: Path
    use_cache: bool = True
    stores: dict = field(default_factory=dict)  # (paths key, size) -> ImageStore, in memory
    monitor: object | None = None  # experiment.monitor.Monitor: progress and run.log
    twin: tuple | None = None  # the last raw run's fit, for its temperature-scaled twin

    def store(self, paths: list[str], prep: Preprocessing) -> ImageStore:
        """One ImageStore per image list and preprocessing, shared by a configuration's folds."""
        key = (hash(tuple(paths)), prep.size, prep.interpolation, prep.stain_norm, prep.resize)
        if key not in self.stores:
            self.stores[key] = ImageStore(
                paths,
                prep.size,
                self.cache_dir,
                prep.interpolation,
                prep.stain_norm,
                resize=prep.resize,
            )
        return self.stores[key]

    @property
    def folder(self) -> RunFolder:
        """The output folder's owner."""
        return RunFolder(self.out_dir)
