"""Expand an experiment into independent, serialisable runs.

A :class:`RunSpec` is one (dataset x magnification x model x mode x augmentation x fold) unit,
or one external-validation unit (train on all of A, test on B). It holds plain data only, so
any executor (this process, a subprocess, a cluster worker) can run it from ``to_dict()``.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import asdict, dataclass

from breastbench.experiment.config import ExperimentConfig


@dataclass(frozen=True)
class RunSpec:
    """One training + evaluation unit of the grid."""

    dataset: str
    magnification: int | None
    model: str  # the model entry's label (or registry name when it has none)
    model_index: int  # index into cfg.models (one name may appear with different options)
    mode: str
    augmentation: str
    fold: int | None  # None for external runs
    seed: int
    external: str | None = None  # test dataset of an external-validation run

    @property
    def run_id(self) -> str:
        """Stable folder name: fields joined by '__', '/' replaced by '-'."""
        mag = f"{self.magnification}x" if self.magnification else "all"
        parts = [
            self.dataset,
            mag,
            re.sub(r"[^A-Za-z0-9._-]+", "-", self.model),
            self.mode,
            f"aug-{self.augmentation}",
        ]
        if self.external:
            parts += [f"ext-{self.external}", f"seed{self.seed}"]
        else:
            parts.append(f"fold{self.fold}")
        return "__".join(parts)

    @property
    def config_key(self) -> str:
        """The configuration this run belongs to (run id without the fold)."""
        return self.run_id.rsplit("__fold", 1)[0]

    def to_dict(self) -> dict:
        """Plain data for another executor."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RunSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(**data)


def expand(cfg: ExperimentConfig) -> list[RunSpec]:
    """All runs of the experiment, folds innermost so a configuration finishes together."""
    runs: list[RunSpec] = []
    for ds in cfg.datasets:
        if not ds.cross_validate:
            continue
        for mag in ds.magnifications or [None]:
            for mi, model in enumerate(cfg.models):
                for mode in model.modes:
                    for aug in _augs_for(cfg.augmentation, mode):
                        for fold in range(cfg.cv.k):
                            runs.append(
                                RunSpec(ds.name, mag, model.display, mi, mode, aug, fold, cfg.seed)
                            )
    for ext in cfg.external:
        src = cfg.dataset(ext.train)
        for mag in src.magnifications or [None]:
            for mi, model in enumerate(cfg.models):
                if ext.models and not {model.name, model.display} & set(ext.models):
                    continue
                for mode in model.modes:
                    if ext.modes and mode not in ext.modes:
                        continue
                    for aug in _augs_for(ext.augmentation or cfg.augmentation, mode):
                        for seed in ext.seeds or [cfg.seed]:
                            runs.append(
                                RunSpec(
                                    ext.train,
                                    mag,
                                    model.display,
                                    mi,
                                    mode,
                                    aug,
                                    None,
                                    seed,
                                    external=ext.test,
                                )
                            )
    return runs


def _augs_for(augs: list[str], mode: str) -> list[str]:
    # Zero-shot trains nothing, so augmentation cannot change it: run it once, "off".
    return ["off"] if mode == "zero_shot" else list(dict.fromkeys(augs))


def select(runs: list[RunSpec], patterns: list[str] | None) -> list[RunSpec]:
    """Keep runs whose id matches any glob (``*resnet*``) or contains any plain substring."""
    if not patterns:
        return runs
    out = []
    for r in runs:
        for p in patterns:
            if p in r.run_id or (any(c in p for c in "*?[") and fnmatch.fnmatch(r.run_id, p)):
                out.append(r)
                break
    return out
