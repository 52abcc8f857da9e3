"""Per-configuration summaries for the tables and figures, read from ``summary/aggregate.csv``.

A configuration is a run key without its replicate axis (fold or seed, see
:class:`breastbench.results.RunKey`); its mean ± std (ddof=1) and n were computed once by the
analysis (:mod:`breastbench.results.analysis`). This module only attaches the configuration's
readable runs (for curves and figures) and its missing ones (for the gaps every table shows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from breastbench.modes.registry import STATES
from breastbench.report.collect import Problem, Run, RunCollection
from breastbench.report.names import config_name, mode_name, subset_name, templates_of, text_name
from breastbench.results import RunIdError, RunKey

# metrics where a smaller value is better; every other metric is "higher is better".
LOWER_IS_BETTER = ("brier", "ece", "log_loss", "nll", "loss")

FAMILY_ORDER = {"cnn": 0, "clip": 1, "vlm": 2}

# paper order of the modes (sort key): the model states' order; probe-like modes come after
MODE_ORDER = STATES
AUG_ORDER = {"off": 0, "on": 1, "color": 2, "geometric": 3}


def lower_is_better(metric: str) -> bool:
    """True for loss-like metrics (calibration error, Brier score, losses)."""
    return metric.endswith(LOWER_IS_BETTER)


def _key_field(name: str, doc: str) -> property:
    """A read-only property that reads field ``name`` of the summary's run key."""
    return property(lambda self: getattr(self.key, name), doc=doc)


@dataclass
class ConfigSummary:
    """The analysis' numbers for one configuration, plus its runs and the missing ones."""

    key: RunKey
    task: str = ""
    family: str = ""
    runs: list[Run] = field(default_factory=list)
    missing: list[Problem] = field(default_factory=list)
    mean: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)
    n: dict[str, int] = field(default_factory=dict)
    ci: dict[str, tuple[float, float]] = field(default_factory=dict)
    n_expected: int = 0
    trainable_params: float = math.nan
    total_params: float = math.nan
    templates: dict[str, str] = field(default_factory=dict)

    @property
    def config(self) -> str:
        """Configuration id."""
        return self.key.config_id

    # the configuration's key fields, read through the summary (types as on RunKey)
    dataset = _key_field("dataset", "Training dataset.")
    magnification = _key_field("magnification", "Magnification, or None for all images.")
    model = _key_field("model", "Model label.")
    mode = _key_field("mode", "Learning mode.")
    augmentation = _key_field("augmentation", "Augmentation preset (off, on, color, geometric).")
    text = _key_field("text", "Text-context tag, None for image-only.")
    shots = _key_field("shots", "Labelled patients per class (label efficiency), else None.")
    external = _key_field("external", "External test set, or None for cross-validation.")

    @property
    def n_folds(self) -> int:
        """Number of usable replicates (folds or seeds)."""
        return len(self.runs)

    @property
    def mag_label(self) -> str:
        """``40×`` or ``all``."""
        return f"{self.magnification}×" if self.magnification else "all"

    @property
    def mode_label(self) -> str:
        """The learning mode in words (in-context; ``(temperature-scaled)`` when calibrated)."""
        scaled = f" ({self.key.calibration}-scaled)" if self.key.calibration else ""
        return mode_name(self.mode, self.shots) + scaled

    @property
    def aug_label(self) -> str:
        """The augmentation preset as written in the config."""
        return self.augmentation

    @property
    def model_label(self) -> str:
        """Model label with the text template as written, when there is one."""
        return self.model + (f" ({text_name(self.text, self.templates)})" if self.text else "")

    @property
    def name(self) -> str:
        """The configuration in words: ``TinyResNet fine-tune`` (+ text template, shots)."""
        return config_name(self.key, self.templates)

    @property
    def subset(self) -> str:
        """The subset in words: ``breakhis 40×, augmentation off``."""
        return subset_name(self.key)

    @property
    def degenerate(self) -> bool:
        """True when every readable run predicts one class for every image (a constant model).

        Threshold metrics of such a model (specificity 1.0 of "always benign") are not
        achievements, so tables never mark them best.
        """
        preds = [r.predictions["pred"] for r in self.runs if "pred" in r.predictions]
        return bool(preds) and all(p.nunique() <= 1 for p in preds)

    @property
    def folds_label(self) -> str:
        """``5`` or ``4 of 5, missing: fold 3``: the gap spelled out in every table."""
        if not self.missing:
            return str(self.n_folds)
        reps = [
            p.key.replicate_label if p.key is not None else "unreadable run" for p in self.missing
        ]
        return f"{self.n_folds} of {self.n_folds + len(self.missing)}, missing: {', '.join(reps)}"

    def sort_key(self) -> tuple:
        """Paper order: dataset, CNNs first, model, mode, magnification, augmentation."""
        return (
            self.dataset,
            self.external or "",
            FAMILY_ORDER.get(self.family, 9),
            self.model,
            self.text or "",
            MODE_ORDER.index(self.mode) if self.mode in MODE_ORDER else 9,
            self.magnification or 0,
            AUG_ORDER.get(self.augmentation, 9),
            self.augmentation,
        )


def _num(value) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def summarize(collection: RunCollection) -> list[ConfigSummary]:
    """One summary per configuration, in paper order; broken configurations included."""
    groups = collection.by_config()
    broken = collection.problems_by_config()
    table = collection.summary.get("aggregate")
    out: dict[str, ConfigSummary] = {}
    if table is not None:
        for rec in table.to_dict("records"):
            cid = rec["config_id"]
            if cid not in out:
                try:
                    key = RunKey.parse(cid)
                except RunIdError:
                    continue
                out[cid] = ConfigSummary(
                    key,
                    task=str(rec.get("task") or "") if rec.get("task") == rec.get("task") else "",
                    family=str(rec.get("family") or "")
                    if rec.get("family") == rec.get("family")
                    else "",
                    n_expected=int(_num(rec.get("n_expected")) or 0),
                    trainable_params=_num(rec.get("trainable_params")),
                    total_params=_num(rec.get("total_params")),
                )
            metric = rec.get("metric")
            if isinstance(metric, str) and metric:
                s = out[cid]
                s.mean[metric] = _num(rec.get("mean"))
                s.std[metric] = _num(rec.get("std"))
                s.n[metric] = int(_num(rec.get("n")) or 0)
                s.ci[metric] = (_num(rec.get("ci_low")), _num(rec.get("ci_high")))
    for cid in set(groups) | set(broken):
        if cid not in out:
            source = groups.get(cid) or broken[cid]
            out[cid] = ConfigSummary(source[0].key.config)
    templates = templates_of(collection.runs)
    for cid, s in out.items():
        s.templates = templates
        s.runs = groups.get(cid, [])
        s.missing = broken.get(cid, [])
        if s.runs and not s.family:
            s.family = str(s.runs[0].info.get("model_family") or "")
    return sorted(out.values(), key=ConfigSummary.sort_key)
