"""The experiment file: datasets x models x modes x options, validated at load.

Defaults follow the histopathology study's Table 3 (20 epochs, batch 64, AdamW, lr 1e-4,
cosine annealing with T_max = total optimiser steps, BCEWithLogits / cross-entropy, 5-fold
patient-level CV). Paths may use ``${VAR}`` / ``${VAR:-default}``; relative paths are resolved
against the current directory, as a user typing them on the command line would expect.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from breastbench.errors import UserError
from breastbench.experiment.robustness import RobustnessConfig
from breastbench.experiment.schema import from_dict
from breastbench.experiment.temperature import check_calibration
from breastbench.modes import get_mode, load_plugin, mode_names, probe_names
from breastbench.report.spec import PublishedValue, ReportSpec
from breastbench.results.spec import CompareSpec, selector

AUGMENTATIONS = ("off", "on", "color", "geometric")


def _f(default: Any = None, help: str = "", factory: Any = None):  # noqa: A002
    if factory is not None:
        return field(default_factory=factory, metadata={"help": help})
    return field(default=default, metadata={"help": help})


@dataclass
class DatasetConfig:
    """One dataset: a source that builds a manifest, plus which subsets become experiments."""

    name: str = _f(None, "key used in run ids and tables, e.g. 'breakhis'")
    source: str = _f(
        None, "manifest source: breakhis, bach, folder, vindr, synthetic-breakhis, ..."
    )
    root: str = _f(None, "dataset root folder on disk")
    task: str | None = _f(None, "source task, e.g. binary | subtype | density")
    magnifications: list[int] | None = _f(
        None, "each magnification is its own experiment; null = all images pooled"
    )
    options: dict = _f(
        factory=dict, help="extra keyword options for the source (e.g. csv, group_by)"
    )
    label_map: dict | None = _f(None, "optional mapping source label -> class name")
    cross_validate: bool = _f(True, "false for a dataset used only as an external test set")

    def validate(self, where: str) -> None:
        """Names must be usable in run ids; magnifications are BreakHis ones."""
        for key in ("name", "source", "root"):
            if not getattr(self, key):
                raise UserError(f"{where}.{key}: required (e.g. name: breakhis)")
        if not re.fullmatch(r"[A-Za-z0-9_-][A-Za-z0-9._-]*", str(self.name)):
            raise UserError(
                f"{where}.name: '{self.name}' may use letters, digits, . _ - only, and may not "
                "start with '.' (it names files: manifests/<name>.csv)"
            )
        for m in self.magnifications or []:
            if m not in (40, 100, 200, 400):
                raise UserError(f"{where}.magnifications: got {m}; allowed: 40, 100, 200, 400")
        check_label_map(self.label_map, f"{where}.label_map")


@dataclass
class ModelConfig:
    """One model and the learning modes to run it under."""

    name: str = _f(None, "registry name, e.g. cnn/resnet34 (see `breastbench models list`)")
    modes: list[str] = _f(
        factory=lambda: ["finetune"],
        help="learning modes (breastbench.modes): zero_shot, linear_probe, finetune, lora, and "
        "knn, simpleshot and tuned_probe fitted on frozen features; mode_plugins add more",
    )
    weights: str | None = _f(None, "null/random, pretrained, or a local folder/file")
    label: str | None = _f(None, "display name in tables (default: the registry name)")
    input_size: int | None = _f(None, "square input size; null = the model's default")
    micro_batch_size: int | Literal["auto"] | None = _f(
        None,
        "per-step batch; gradient accumulation keeps training.batch_size effective; auto = "
        "the largest that fits the GPU (probed once per model, mode, input and device)",
    )
    lr: float | dict | None = _f(
        None, "learning-rate override: one number, or per mode, e.g. {linear_probe: 1e-2}"
    )
    prompt_set: str | None = _f(None, "zero-shot prompt file, e.g. histology_binary, density")
    magnification_prompts: bool = _f(False, "zero-shot prompts mention the magnification")
    text_context: str | list[str | None] | None = _f(
        None,
        "VLM text beside the image, filled from manifest columns, e.g. 'Magnification: "
        "{magnification}x'; a list (null = image-only) makes text context a grid axis",
    )
    resize: Literal["squash", "crop", "pad"] | None = _f(
        None,
        "resize rule: squash to the input size (the studies' default), crop (shorter side + "
        "centre crop, as timm/open_clip evaluation transforms) or pad (letterbox)",
    )
    init_head_from_text: bool = _f(False, "linear probe starts from the zero-shot text head")
    shots: list[int] = _f(
        factory=lambda: [0],
        help="in-context examples per class for a VLM's generative zero_shot, e.g. [0, 2] "
        "(0 = plain zero-shot); drawn by patient inside the training fold",
    )
    options: dict = _f(factory=dict, help="extra create() kwargs, e.g. lora_r, torch_dtype")
    resources: dict | None = _f(
        None, "Ray resources of this model's runs, e.g. {gpus: 0.25} (see resources)"
    )

    def validate(self, where: str) -> None:
        """A model needs a name and at least one mode."""
        if not self.name:
            raise UserError(f"{where}.name: required, e.g. cnn/resnet34")
        if not self.modes:
            raise UserError(f"{where}.modes: give at least one of {', '.join(mode_names())}")
        for i, mode in enumerate(self.modes):  # the registry's names, checked as a Literal is
            if mode not in mode_names():
                allowed = ", ".join(repr(m) for m in mode_names())
                raise UserError(f"{where}.modes[{i}]: got {mode!r}; allowed: {allowed}")
        check_unique(self.modes, f"{where}.modes")
        check_unique(self.shots, f"{where}.shots")
        if isinstance(self.lr, dict):
            for mode, value in self.lr.items():
                if mode not in mode_names() or isinstance(value, bool):
                    allowed = ", ".join(mode_names())
                    raise UserError(f"{where}.lr: key {mode!r} must be one of {allowed}")
                if not isinstance(value, (int, float)):
                    raise UserError(f"{where}.lr.{mode}: got {value!r}; expected a number")
                if not value > 0:
                    raise UserError(f"{where}.lr.{mode}: got {value}; must be > 0")
        elif self.lr is not None and not self.lr > 0:
            raise UserError(f"{where}.lr: got {self.lr}; the learning rate must be > 0")
        for k in self.shots:
            if isinstance(k, bool) or not isinstance(k, int) or k < 0:
                raise UserError(
                    f"{where}.shots: got {k!r}; expected whole numbers >= 0, e.g. [0, 2]"
                )
        if any(self.shots) and "zero_shot" not in self.modes:
            raise UserError(
                f"{where}.shots: in-context examples are for the zero_shot mode; add zero_shot "
                "to modes or remove shots"
            )
        from breastbench.models.preprocess import TEXT_FIELDS, template_fields

        for t in self.text_contexts:
            bad = [f for f in template_fields(t) if f not in TEXT_FIELDS] if t else []
            if bad:
                raise UserError(
                    f"{where}.text_context: unknown field {{{bad[0]}}} in {t!r}; allowed: "
                    + ", ".join("{" + f + "}" for f in TEXT_FIELDS)
                )
        for key, value in (self.resources or {}).items():
            if key not in ("gpus", "cpus", "memory_gb"):
                raise UserError(
                    f"{where}.resources: unknown key {key!r}; allowed: gpus, cpus, memory_gb"
                )
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise UserError(f"{where}.resources.{key}: got {value!r}; expected a number >= 0")
        for key in ("input_size", "micro_batch_size"):
            value = getattr(self, key)
            if isinstance(value, int) and value < 1:
                raise UserError(f"{where}.{key}: got {value}; use 1 or more")

    @property
    def display(self) -> str:
        """Name used in tables."""
        return self.label or self.name

    @property
    def text_contexts(self) -> list[str | None]:
        """The text-context axis: ``[None]`` (image-only) unless templates are given."""
        if isinstance(self.text_context, list):
            return list(dict.fromkeys(self.text_context)) or [None]
        return [self.text_context]


@dataclass
class ResourcesConfig:
    """What one run asks a Ray cluster for (``--executor ray``); a model entry may override."""

    gpus: float | None = _f(None, "GPUs per run; fractions share a GPU; null = 1 where GPUs exist")
    cpus: float = _f(1.0, "CPUs per run")
    memory_gb: float | None = _f(None, "memory per run in GiB (null: no reservation)")

    def validate(self, where: str) -> None:
        """Non-negative requests."""
        for key in ("gpus", "cpus", "memory_gb"):
            value = getattr(self, key)
            if value is not None and value < 0:
                raise UserError(f"{where}.{key}: got {value}; use 0 or more")

    def as_dict(self) -> dict:
        """The requests that are set."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass
class CVConfig:
    """Patient-grouped, class-stratified k-fold cross-validation."""

    k: int = _f(5, "number of folds (the study uses 5)")
    seed: int = _f(0, "seed of the fold assignment")
    group_by: Literal["patient", "image"] = _f("patient", "grouping unit; patient avoids leakage")

    def validate(self, where: str) -> None:
        """At least 2 folds."""
        if self.k < 2:
            raise UserError(f"{where}.k: got {self.k}; need at least 2 folds")
        check_seed(self.seed, f"{where}.seed")


@dataclass
class TrainingConfig:
    """Optimisation; defaults are the study's Table 3."""

    epochs: int = _f(20, "epochs per run (Table 3)")
    batch_size: int = _f(64, "effective batch size (Table 3)")
    lr: float = _f(1e-4, "AdamW learning rate (Table 3)")
    weight_decay: float = _f(0.01, "AdamW weight decay (torch default)")
    scheduler: Literal["cosine", "none"] = _f("cosine", "cosine annealing, T_max = total steps")
    amp: Literal["auto", "bf16", "fp16", "off"] = _f("auto", "autocast on GPU (bf16); off on CPU")
    class_weights: bool = _f(False, "weight the loss by inverse class frequency")
    val_fraction: float = _f(0.0, "inner validation split of the training patients (0 = none)")
    select_best: bool = _f(False, "keep the epoch with the lowest inner-validation loss")
    early_stopping: int | None = _f(None, "stop after this many epochs without val improvement")
    eval_every_epoch: bool = _f(True, "held-out loss per epoch for learning curves (not selection)")
    num_workers: int | None = _f(
        None, "DataLoader workers for augmentation; null = 0 on CPU, up to 8 on GPU"
    )
    save_checkpoints: Literal["all", "first_fold", "none"] = _f(
        "first_fold", "which fold models to keep (explainability, predict)"
    )
    checkpoint_every: int = _f(1, "epochs between resume checkpoints (0 = never)")
    checkpoint_seconds: float = _f(
        20.0, "skip a resume checkpoint if the last one (or the start) is more recent"
    )

    def validate(self, where: str) -> None:
        """Positive sizes; best-epoch selection needs an inner validation split."""
        if self.epochs < 0:
            raise UserError(f"{where}.epochs: got {self.epochs}; use 0 or more")
        if self.batch_size < 1:
            raise UserError(f"{where}.batch_size: got {self.batch_size}; use 1 or more")
        if not self.lr > 0:
            raise UserError(f"{where}.lr: got {self.lr}; the learning rate must be > 0")
        if self.weight_decay < 0:
            raise UserError(f"{where}.weight_decay: got {self.weight_decay}; use 0 or more")
        if self.num_workers is not None and self.num_workers < 0:
            raise UserError(f"{where}.num_workers: got {self.num_workers}; use 0 or more")
        if self.early_stopping is not None and self.early_stopping < 1:
            raise UserError(f"{where}.early_stopping: got {self.early_stopping}; use 1 or more")
        if not 0.0 <= self.val_fraction < 0.9:
            raise UserError(f"{where}.val_fraction: got {self.val_fraction}; use 0 <= x < 0.9")
        if (self.select_best or self.early_stopping) and self.val_fraction <= 0:
            raise UserError(
                f"{where}.select_best/early_stopping need training.val_fraction > 0: "
                "selection is done on an inner validation split, never on the test fold"
            )


@dataclass
class LabelEfficiencyConfig:
    """k labelled patients per class, drawn inside each training fold, R draws per k and fold."""

    shots: list[int | str] = _f(
        factory=lambda: [1, 2, 4, 8, 16, 32, "all"], help="labelled patients per class ('all')"
    )
    draws: int = _f(3, "resampled support sets per shot count and fold (3 keeps the demo fast)")
    modes: list[str] = _f(
        factory=lambda: ["linear_probe", "knn", "simpleshot"],
        help="modes whose learning curves are drawn (frozen-feature modes)",
    )

    def validate(self, where: str) -> None:
        """Positive shot counts and draws; frozen-feature modes only."""
        for k in self.shots:
            if k != "all" and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
                raise UserError(f"{where}.shots: got {k!r}; use integers >= 1 or 'all'")
        if self.draws < 1:
            raise UserError(f"{where}.draws: got {self.draws}; use 1 or more")
        for m in self.modes:
            frozen = ("linear_probe", *probe_names())
            if m not in frozen or not get_mode(m).frozen:
                raise UserError(
                    f"{where}.modes: {m!r} is not a frozen-feature mode; allowed: "
                    + ", ".join(frozen)
                )


@dataclass
class ExternalConfig:
    """External validation: train on all of one dataset, test on another, no fine-tuning."""

    train: str = _f(None, "dataset name to train on (all of it)")
    test: str = _f(None, "dataset name to test on")
    models: list[str] | None = _f(None, "subset of model names (default: all)")
    modes: list[str] | None = _f(None, "subset of modes (default: all)")
    augmentation: list[Literal["off", "on", "color", "geometric"]] | None = _f(
        None, "subset of augmentation settings (default: all)"
    )
    label_map: dict | None = _f(None, "test label -> train class name, e.g. Normal: benign")
    seeds: list[int] | None = _f(None, "training seeds; several give mean +- std")

    def validate(self, where: str) -> None:
        """Both ends must be named."""
        if not self.train or not self.test:
            raise UserError(f"{where}: give both 'train' and 'test' dataset names")
        check_label_map(self.label_map, f"{where}.label_map")
        check_unique(self.modes or [], f"{where}.modes")
        check_unique(self.augmentation or [], f"{where}.augmentation")
        check_unique(self.seeds or [], f"{where}.seeds")
        for seed in self.seeds or []:
            check_seed(seed, f"{where}.seeds")


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


#: seeds reach scikit-learn/numpy ``RandomState``, which take 0 .. 2**32 - 1
MAX_SEED = 2**32 - 1


def check_seed(value: int, where: str) -> None:
    """Refuse a seed the random generators cannot take, with the range in the message."""
    if not 0 <= value <= MAX_SEED:
        raise UserError(f"{where}: got {value}; a seed is a whole number from 0 to {MAX_SEED}")


def check_unique(values: list, where: str) -> None:
    """Refuse a list that names the same item twice (it would run, and count, twice)."""
    seen = []
    for value in values:
        if value in seen:
            raise UserError(f"{where}: {value!r} is listed twice; list each once")
        seen.append(value)


def check_label_map(label_map: dict | None, where: str) -> None:
    """Label-map keys are labels as text: a key YAML read as a number or boolean is refused.

    ``{0: benign}`` or ``{no: benign}`` would never match a label (labels are strings), so the
    mapping would be silently ignored; the message says to quote the key.
    """
    for key, value in (label_map or {}).items():
        if not isinstance(key, str):
            kind = "a boolean" if isinstance(key, bool) else "a number"
            raise UserError(
                f"{where}: key {key!r} was read by YAML as {kind}, not a label; quote the "
                f"key as written, e.g. '{_as_written(key)}': {value}"
            )
        if not isinstance(value, str):
            raise UserError(f"{where}.{key}: got {value!r}; expected a class name (text)")


def _as_written(key) -> str:
    """A guess at how a non-string key was typed (YAML 1.1 reads no/yes/on/off as booleans)."""
    if isinstance(key, bool):
        return "yes" if key else "no"
    return str(key)


def _plain_scalar_resolvers() -> dict:
    """PyYAML's implicit resolvers, with integers that keep identifiers as written.

    YAML 1.1 reads ``0012`` as octal 10, ``1:30`` as 90 (base 60) and ``0b11`` as 3; an
    identifier typed with leading zeros (a dataset or patient id) must stay ``"0012"``. Only
    plain decimal integers without leading zeros (and ``0x`` hex) resolve to int here.
    """
    resolvers = {
        first: [(tag, rx) for tag, rx in entries if tag != "tag:yaml.org,2002:int"]
        for first, entries in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    int_rx = re.compile(r"^(?:[-+]?(?:0|[1-9][0-9_]*)|0x[0-9a-fA-F_]+)$")
    for first in "-+0123456789":
        resolvers.setdefault(first, []).append(("tag:yaml.org,2002:int", int_rx))
    return resolvers


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key given twice in one mapping (YAML keeps the last).

    Integers with leading zeros stay strings (see :func:`_plain_scalar_resolvers`).
    """

    yaml_implicit_resolvers = _plain_scalar_resolvers()

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}; give each key once", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def expand_sweeps(models: list) -> list:
    """Expand ``sweep:`` on model entries into one labelled entry per combination.

    ``sweep: {lora_r: [4, 8, 16]}`` on the entry labelled ``SmolVLM`` gives ``SmolVLM[lora_r=4]``,
    ``SmolVLM[lora_r=8]`` and ``SmolVLM[lora_r=16]``: first-class configurations in every table,
    figure and comparison. A key that is a model-entry field (``lr``, ``input_size``,
    ``resize``, ...) sets that field; any other key goes to ``options`` (``lora_r``,
    ``lora_alpha``, ``lora_dropout``, ``lora_targets``, ``lora_scope``, ...).
    """
    import itertools

    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    out = []
    for i, entry in enumerate(models):
        if not isinstance(entry, dict) or "sweep" not in entry:
            out.append(entry)
            continue
        sweep = entry["sweep"]
        where = f"models[{i}].sweep"
        if not isinstance(sweep, dict) or not sweep:
            raise UserError(f"{where}: give a mapping of option -> list of values")
        for key, values in sweep.items():
            if not isinstance(values, list) or not values:
                raise UserError(f"{where}.{key}: give a non-empty list of values")
            if key in ("name", "modes", "label", "sweep", "options"):
                raise UserError(f"{where}.{key}: cannot be swept; sweep model options instead")
        base = {k: v for k, v in entry.items() if k != "sweep"}
        label = base.get("label") or base.get("name")
        keys = list(sweep)
        for combo in itertools.product(*(sweep[k] for k in keys)):
            item = dict(base, options=dict(base.get("options") or {}))
            for key, value in zip(keys, combo):
                if key in fields:
                    item[key] = value
                else:
                    item["options"][key] = value
            tag = ",".join(f"{k}={v}" for k, v in zip(keys, combo))
            item["label"] = f"{label}[{tag}]"
            out.append(item)
    return out


# resolved dataset root -> the unset environment variable whose default it is
UNSET_ROOT_VARS: dict[str, str] = {}

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}")


def _uses_default(m: re.Match) -> bool:
    """True when ``m``'s default stands in: VAR unset, or set but empty for ``:-`` (shell)."""
    value = os.environ.get(m.group(1))
    return value is None or (value == "" and m.group(2) == ":-")


def expand_vars(text: str) -> str:
    """Expand ``${VAR}``, ``${VAR:-default}`` and ``${VAR-default}`` as the shell does.

    ``:-`` uses the default when VAR is unset or empty, ``-`` only when it is unset; an unset
    VAR without a default is an error.
    """

    def sub(m: re.Match) -> str:
        if not _uses_default(m):
            return os.environ[m.group(1)]
        if m.group(2) is None:
            if m.group(1) in os.environ:  # ${VAR} set to the empty string
                return ""
            raise UserError(
                f"environment variable {m.group(1)} is not set; set it or write "
                f"${{{m.group(1)}:-default}}"
            )
        return m.group(3)

    return _VAR.sub(sub, text)


def _resolve(path: str, base: Path) -> str:
    p = Path(expand_vars(path)).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def load_config(
    path: str | Path, overrides: dict | None = None, sets: list[str] | None = None
) -> ExperimentConfig:
    """Read and validate an experiment YAML; paths become absolute (relative to the cwd).

    ``sets``: ``--set KEY=VALUE`` overrides (:mod:`breastbench.experiment.overrides`), applied
    before validation and kept as ``cfg.overrides``.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"experiment file not found: {path}")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        line = path.read_bytes()[: err.start].count(b"\n") + 1
        raise UserError(
            f"{path}: line {line} is not UTF-8 (byte 0x{err.object[err.start]:02x}); save the "
            "file as UTF-8"
        ) from None
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - safe subclass
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise UserError(
            f"{path}:{where} is not valid YAML ({getattr(err, 'problem', err)})"
        ) from None
    if not isinstance(raw, dict):
        raise UserError(f"{path}: expected a mapping with keys datasets, models, ...")
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

            raw["external"] = expand_external_tests(raw["external"])
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
    for d in cfg.datasets:
        unset = [m.group(1) for m in _VAR.finditer(d.root) if _uses_default(m)]
        d.root = _resolve(d.root, base)
        if unset:  # the default stood in for an unset variable: say so if the path is missing
            UNSET_ROOT_VARS[d.root] = unset[0]
        for key in ("csv", "ground_truth"):
            if isinstance(d.options.get(key), str):
                d.options[key] = _resolve(d.options[key], base)
    for m in cfg.models:
        if m.weights and m.weights not in ("random", "pretrained"):
            m.weights = _resolve(m.weights, base)
    cfg.output_dir = _resolve(cfg.output_dir, base)
    if cfg.cache_dir:
        cfg.cache_dir = _resolve(cfg.cache_dir, base)
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
        plugins = [_resolve(p, base) if p.endswith(".py") else p for p in plugins]
        raw["mode_plugins"] = plugins
    for i, target in enumerate(plugins):
        load_plugin(target, where=f"mode_plugins[{i}]")
