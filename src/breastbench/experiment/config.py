"""The experiment file: datasets x models x modes x options, validated at load.

Defaults follow the histopathology study's Table 3 (20 epochs, batch 64, AdamW, lr 1e-4,
cosine annealing with T_max = total optimiser steps, BCEWithLogits / cross-entropy, 5-fold
patient-level CV). Paths may use ``${VAR}`` / ``${VAR:-default}``; relative paths are resolved
against the current directory, as a user typing them on the command line would expect.

The sections live in :mod:`breastbench.experiment.sections`, the reading of the file (strict
YAML, variables, sweeps) in :mod:`breastbench.experiment.rawconfig`; both are re-exported here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from breastbench.errors import UserError
from breastbench.experiment.loso import check_unions
from breastbench.experiment.rawconfig import (
    UNSET_ROOT_VARS,
    expand_sweeps,
    expand_vars,
    read_yaml,
    resolve_path,
    unset_vars,
)
from breastbench.experiment.robustness import RobustnessConfig
from breastbench.experiment.schema import from_dict
from breastbench.experiment.sections import (
    AUGMENTATIONS,
    MAX_SEED,
    CVConfig,
    DatasetConfig,
    ExternalConfig,
    LabelEfficiencyConfig,
    ModelConfig,
    ResourcesConfig,
    TrainingConfig,
    _f,
    check_label_map,
    check_seed,
    check_unique,
)
from breastbench.experiment.temperature import check_calibration
from breastbench.modes import load_plugin
from breastbench.report.spec import PublishedValue, ReportSpec
from breastbench.results.spec import CompareSpec, selector
from breastbench.results.subgroup_spec import AnalysisSpec

__all__ = [
    "AUGMENTATIONS",
    "MAX_SEED",
    "UNSET_ROOT_VARS",
    "CVConfig",
    "DatasetConfig",
    "ExperimentConfig",
    "ExternalConfig",
    "LabelEfficiencyConfig",
    "ModelConfig",
    "ResourcesConfig",
    "TrainingConfig",
    "check_label_map",
    "check_seed",
    "check_unique",
    "expand_sweeps",
    "expand_vars",
    "load_config",
    "load_mode_plugins",
]


@dataclass
class ExperimentConfig:
    """A whole experiment file."""

    name: str = _f("experiment", "experiment name")
    output_dir: str = _f("outputs/experiment", "where run folders and the report go")
    seed: int = _f(0, "training seed (weights init, shuffling, augmentation)")
    datasets: list[DatasetConfig] = _f(factory=list, help="datasets")
    mode_plugins: list[str] = _f(
        factory=list,
        help="files (my_mode.py) or modules that register learning modes with "
        "breastbench.modes.register_mode, loaded before the models are checked",
    )
    models: list[ModelConfig] = _f(factory=list, help="models and modes")
    augmentation: list[Literal["off", "on", "color", "geometric"]] = _f(
        factory=lambda: ["off"], help="augmentation settings; each is its own experiment"
    )
    stain_norm: bool = _f(False, "Macenko stain normalisation before augmentation")
    calibration: list[Literal["none", "temperature"]] = _f(
        factory=lambda: ["none"],
        help="post-hoc calibration, each its own configuration: none (raw scores), temperature "
        "(one T fitted on the inner validation split; needs training.val_fraction > 0)",
    )
    cv: CVConfig = _f(factory=CVConfig, help="cross-validation")
    training: TrainingConfig = _f(factory=TrainingConfig, help="optimisation")
    external: list[ExternalConfig] = _f(factory=list, help="external validations")
    cache_dir: str | None = _f(None, "image/feature caches (default: <output_dir>/cache)")
    resources: ResourcesConfig = _f(
        factory=ResourcesConfig, help="per-run resources for --executor ray"
    )
    label_efficiency: LabelEfficiencyConfig | None = _f(
        None, "k-shot learning curves on cached features (see README)"
    )
    compare: CompareSpec = _f(
        factory=CompareSpec,
        help="which configurations the analysis compares, with which tests (see README)",
    )
    analysis: AnalysisSpec = _f(
        factory=AnalysisSpec,
        help="subgroup analysis: manifest columns that split the results (see README)",
    )
    synthetic: bool = _f(False, "data are synthetic (the report says so)")
    tracking: list[Literal["mlflow", "tensorboard"]] = _f(
        factory=list,
        help="optional trackers fed during the run: mlflow (OUT/mlruns), tensorboard "
        "(OUT/tensorboard); pip install 'breastbench[tracking]'",
    )
    robustness: RobustnessConfig | None = _f(
        None, "test-time perturbations of every run's test fold (see README)"
    )
    published: list[PublishedValue] = _f(
        factory=list, help="published numbers the report puts beside ours (see README)"
    )
    report: ReportSpec = _f(factory=ReportSpec, help="what the report draws (explanation maps)")

    def validate(self, where: str) -> None:
        """Cross-field checks: unique names, external datasets exist."""
        if not self.datasets:
            raise UserError("datasets: the experiment needs at least one dataset")
        if not self.models:
            raise UserError("models: the experiment needs at least one model")
        check_seed(self.seed, "seed")
        check_unique(self.augmentation, "augmentation")
        check_calibration(self)
        entries = [{**asdict(m), "label": None} for m in self.models]
        for i, entry in enumerate(entries):
            if entry in entries[:i]:
                raise UserError(
                    f"models[{i}]: repeats models[{entries.index(entry)}] (same model and "
                    "settings); remove the duplicate entry"
                )
        names = [d.name for d in self.datasets]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise UserError(f"datasets: duplicate name {sorted(dup)[0]!r}; names must be unique")
        check_unions(self.datasets)  # pooled training sets (leave-one-source-out)
        labels = [m.display for m in self.models]
        dup = {n for n in labels if labels.count(n) > 1}
        if dup:
            raise UserError(
                f"models: {sorted(dup)[0]!r} appears twice; give each entry a distinct 'label'"
            )
        sels = [
            (f"compare.pairs[{i}][{j}]", raw)
            for i, pair in enumerate(self.compare.pairs or [])
            for j, raw in enumerate(pair)
        ]
        if self.compare.reference is not None:
            sels.append(("compare.reference", self.compare.reference))
        for at, raw in sels:
            sel = selector(raw, at)
            if "model" in sel and sel["model"] not in labels:
                raise UserError(
                    f"{at}: no model labelled {sel['model']!r}; labels: {', '.join(labels)}"
                )
            if "dataset" in sel and sel["dataset"] not in names:
                raise UserError(f"{at}: no dataset {sel['dataset']!r}; defined: {', '.join(names)}")
        for i, ext in enumerate(self.external):
            for end in ("train", "test"):
                if getattr(ext, end) not in names:
                    raise UserError(
                        f"external[{i}].{end}: unknown dataset {getattr(ext, end)!r}; "
                        f"defined: {', '.join(names)}"
                    )

    def dataset(self, name: str) -> DatasetConfig:
        """The dataset called ``name``."""
        return next(d for d in self.datasets if d.name == name)


def load_config(
    path: str | Path, overrides: dict | None = None, sets: list[str] | None = None
) -> ExperimentConfig:
    """Read and validate an experiment YAML; paths become absolute (relative to the cwd).

    ``sets``: ``--set KEY=VALUE`` overrides (:mod:`breastbench.experiment.overrides`), applied
    before validation and kept as ``cfg.overrides``.
    """
    path = Path(path)
    raw = read_yaml(path)
    raw.update(overrides or {})
    from breastbench.experiment.overrides import apply

    apply(raw, sets or [])
    if isinstance(raw.get("compare"), list):  # shorthand: a bare list of pairs
        raw["compare"] = {"pairs": raw["compare"]}
    try:
        if isinstance(raw.get("models"), list):
            raw["models"] = expand_sweeps(raw["models"])
        if isinstance(raw.get("external"), list):  # tests: [...] -> one entry per test set
            from breastbench.experiment.external import expand_external_tests

            raw["external"] = expand_external_tests(raw["external"], raw.get("datasets"))
    except UserError as err:
        raise UserError(f"{path}: {err}") from None
    try:
        load_mode_plugins(raw, base=Path.cwd())
        cfg = from_dict(ExperimentConfig, raw, "")
    except UserError as err:
        given = f" (with --set {' --set '.join(sets)})" if sets else ""
        raise UserError(f"{path}: {str(err).lstrip('.')}{given}") from None
    cfg.overrides = list(sets or [])  # recorded in the run folder's experiment.yaml
    base = Path.cwd()
    for d in (d for d in cfg.datasets if d.root is not None):  # a union has no root
        unset = unset_vars(d.root)
        d.root = resolve_path(d.root, base)
        if unset:  # the default stood in for an unset variable: say so if the path is missing
            UNSET_ROOT_VARS[d.root] = unset[0]
        for key in ("csv", "ground_truth"):
            if isinstance(d.options.get(key), str):
                d.options[key] = resolve_path(d.options[key], base)
    for m in cfg.models:
        if m.weights and m.weights not in ("random", "pretrained"):
            m.weights = resolve_path(m.weights, base)
    cfg.output_dir = resolve_path(cfg.output_dir, base)
    if cfg.cache_dir:
        cfg.cache_dir = resolve_path(cfg.cache_dir, base)
    return cfg


def load_mode_plugins(raw: dict, base: Path | None = None) -> None:
    """Import the config's ``mode_plugins`` (files resolved against ``base``) before validation.

    Their modes must be registered before ``models[i].modes`` is checked, so this reads the raw
    mapping; the resolved paths are written back, so a worker loads the same files.
    """
    plugins = raw.get("mode_plugins") or []
    if not isinstance(plugins, list) or not all(isinstance(p, str) for p in plugins):
        raise UserError(f"mode_plugins: got {plugins!r}; expected a list of .py files or modules")
    if base is not None:
        plugins = [resolve_path(p, base) if p.endswith(".py") else p for p in plugins]
        raw["mode_plugins"] = plugins
    for i, target in enumerate(plugins):
        load_plugin(target, where=f"mode_plugins[{i}]")
