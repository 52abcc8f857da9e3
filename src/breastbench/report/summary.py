"""Per-configuration summaries: fold metrics aggregated as mean ± std (ddof=1), gaps kept.

A configuration is one (dataset, magnification, model, mode, augmentation, external target);
its folds are the runs sharing a run id up to ``__fold<k>``. The standard deviation is the
sample one (ddof=1), as in the studies' "mean ± std over five folds". A configuration whose
runs are all broken still gets a summary (from its run ids) so the tables can say "missing".
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from breastbench.report.collect import Problem, Run, RunCollection, parse_run_id

# metrics where a smaller value is better; every other metric is "higher is better".
LOWER_IS_BETTER = ("brier", "ece", "log_loss", "nll", "loss")

FAMILY_ORDER = {"cnn": 0, "clip": 1, "vlm": 2}

MODE_LABELS = {
    "zero_shot": "zero-shot",
    "linear_probe": "linear probe",
    "finetune": "fine-tune",
    "lora": "LoRA",
}


def lower_is_better(metric: str) -> bool:
    """True for loss-like metrics (calibration error, Brier score, losses)."""
    return metric.endswith(LOWER_IS_BETTER)


@dataclass
class ConfigSummary:
    """Fold-aggregated metrics of one configuration plus the runs that are missing."""

    config: str
    dataset: str
    magnification: int | None
    model: str
    mode: str
    augmentation: bool
    external: str | None
    task: str
    runs: list[Run] = field(default_factory=list)
    missing: list[Problem] = field(default_factory=list)
    mean: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)

    @property
    def n_folds(self) -> int:
        """Number of usable folds."""
        return len(self.runs)

    @property
    def n_expected(self) -> int:
        """Usable plus missing or broken folds."""
        return len(self.runs) + len(self.missing)

    @property
    def family(self) -> str:
        """Model family from the namespaced model name (``cnn/resnet34`` -> ``cnn``)."""
        return self.model.split("/")[0] if "/" in self.model else self.model.split("-")[0]

    @property
    def mag_label(self) -> str:
        """``40×`` or ``all``."""
        return f"{self.magnification}×" if self.magnification else "all"

    @property
    def mode_label(self) -> str:
        """Human name of the learning mode."""
        return MODE_LABELS.get(self.mode, self.mode)

    @property
    def aug_label(self) -> str:
        """``on`` or ``off``."""
        return "on" if self.augmentation else "off"

    @property
    def folds_label(self) -> str:
        """``5`` or ``4 of 5, missing: fold 3``: the gap spelled out in every table."""
        if not self.missing:
            return str(self.n_folds)
        folds = ", ".join(f"fold {parse_run_id(p.run_id).get('fold', '?')}" for p in self.missing)
        return f"{self.n_folds} of {self.n_expected}, missing: {folds}"

    def sort_key(self) -> tuple:
        """Paper order: dataset, CNNs first, model, mode, magnification."""
        return (
            self.dataset,
            self.external or "",
            FAMILY_ORDER.get(self.family, 9),
            self.model,
            list(MODE_LABELS).index(self.mode) if self.mode in MODE_LABELS else 9,
            self.magnification or 0,
            self.augmentation,
        )


def _aug(value) -> bool:
    if isinstance(value, str):
        return value.lower() in ("on", "true", "yes", "1")
    return bool(value)


def _mag(value) -> int | None:
    if value in (None, "all", ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _from_run(config: str, run: Run) -> ConfigSummary:
    info = run.info
    return ConfigSummary(
        config=config,
        dataset=str(info.get("dataset", config.split("__")[0])),
        magnification=_mag(info.get("magnification")),
        model=str(info.get("model", "?")),
        mode=str(info.get("mode", "?")),
        augmentation=_aug(info.get("augmentation")),
        external=info.get("external") or None,
        task=str(info.get("task", "")),
    )


def _from_problem(config: str, problem: Problem) -> ConfigSummary:
    info = parse_run_id(problem.run_id)
    return ConfigSummary(
        config=config,
        dataset=info["dataset"],
        magnification=info.get("magnification"),
        model=info.get("model", "?"),
        mode=info.get("mode", "?"),
        augmentation=bool(info.get("augmentation")),
        external=info.get("external"),
        task="",
    )


def fold_stats(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; NaN with a single fold)."""
    arr = np.asarray(values, dtype=float)
    mean = float(np.mean(arr))
    std = float(np.std(arr, ddof=1)) if len(arr) > 1 else float("nan")
    return mean, std


def summarize(collection: RunCollection) -> list[ConfigSummary]:
    """One summary per configuration, in paper order; broken configurations included."""
    groups = collection.by_config()
    broken = collection.problems_by_config()
    out = []
    for config in sorted(set(groups) | set(broken)):
        runs = groups.get(config, [])
        summary = _from_run(config, runs[0]) if runs else _from_problem(config, broken[config][0])
        summary.runs = runs
        summary.missing = broken.get(config, [])
        names = sorted({k for r in runs for k in r.metrics})
        for name in names:
            values = [r.metrics[name] for r in runs if name in r.metrics]
            summary.mean[name], summary.std[name] = fold_stats(values)
        out.append(summary)
    return sorted(out, key=ConfigSummary.sort_key)
