"""The experiment file's sections: one dataclass per block, each validating its own fields.

:class:`~breastbench.experiment.config.ExperimentConfig` holds them; ``_f`` declares a field
with its help text (docs/REFERENCE.md is generated from it), and the ``check_*`` helpers are the
checks several sections share (seed range, no repeats, label maps written as text).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from breastbench.errors import UserError
from breastbench.experiment.loso import UNION
from breastbench.modes import get_mode, mode_names, probe_names

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
    root: str | None = _f(None, "dataset root folder on disk (none for source: union)")
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
        for key in ("name", "source") + (() if self.source == UNION else ("root",)):
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
