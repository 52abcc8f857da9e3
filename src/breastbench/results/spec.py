"""The ``compare:`` section of an experiment file: which configurations the analysis pairs.

A *selector* picks configurations by their run-key fields: a mapping such as
``{model: ResNet34, mode: finetune}`` or the shorthand ``"ResNet34"`` / ``"ResNet34:finetune"``.
A *pair* ``[A, B]`` compares every configuration matching A with the configuration matching B
that agrees with it on every field neither selector names: ``[{augmentation: "off"},
{augmentation: color}]`` compares colour augmentation with none for every model, mode,
dataset and magnification; ``["ResNet34:finetune", "SmolVLM:lora"]`` compares those two models
in every dataset x magnification x augmentation subset.

A ``reference`` selector compares every other configuration of a subset (same dataset,
magnification, augmentation, text context and test set) with the configuration of that subset
it matches: the "everything vs ResNet34" question of the studies. Without ``pairs`` and
``reference`` the analysis does the same with a default reference: in each subset, the first
configuration in the grid's order (the first model entry's first mode), plus each
text-conditioned configuration against its image-only twin. That family has one comparison per
configuration, small enough for a corrected test to decide. Label-efficiency configurations
(``shots``) enter only a pair whose selectors name ``shots``, temperature-scaled ones only a
pair or reference that names ``calibration`` (``{calibration: none}`` is the raw twin).
Nothing is ever selected on test-fold scores.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from breastbench.errors import UserError
from breastbench.modes import mode_names
from breastbench.results.key import text_tag

SELECTOR_FIELDS = (
    "dataset",
    "magnification",
    "model",
    "mode",
    "augmentation",
    "text",
    "shots",
    "external",
    "calibration",
)
# What "one subset" means for the default pairs: configurations that share all of these.
SUBSET_FIELDS = ("dataset", "magnification", "augmentation", "text", "shots", "external")


@dataclass
class CompareSpec:
    """Which pairs, which metrics, which resampling unit and correction the analysis uses."""

    pairs: list[list[str | dict]] | None = field(
        default=None,
        metadata={
            "help": "pairs of selectors, e.g. [[ResNet34:finetune, SmolVLM:lora], "
            "[{augmentation: 'off'}, {augmentation: color}]]; default: all pairs per subset"
        },
    )
    reference: str | dict | None = field(
        default=None,
        metadata={
            "help": "compare every configuration of a subset with the one this selector "
            "matches, e.g. ResNet34:finetune; default (without pairs): the subset's first "
            "configuration in the grid's order"
        },
    )
    primary: Literal["bootstrap", "wilcoxon"] = field(
        default="bootstrap",
        metadata={
            "help": "the headline test: the fold-aware patient bootstrap or the Wilcoxon test "
            "over folds/seeds; the other is reported as secondary"
        },
    )
    alpha: float = field(
        default=0.05, metadata={"help": "significance level of the corrected p-values"}
    )
    metrics: list[str] | None = field(
        default=None,
        metadata={
            "help": "metrics to compare; default: auc + accuracy (binary), "
            "auc_ovr_macro + kappa_quadratic (multi-class)"
        },
    )
    unit: Literal["patient", "image"] = field(
        default="patient",
        metadata={
            "help": "what the fold-aware bootstrap resamples within each fold: patient or image"
        },
    )
    correction: Literal["holm", "bonferroni", "none"] = field(
        default="holm", metadata={"help": "multiple-comparison correction"}
    )
    family: Literal["subset", "metric", "table"] = field(
        default="subset",
        metadata={
            "help": "correction family: each subset x metric x test, each metric x test "
            "over the table, or each test over the table"
        },
    )
    n_boot: int = field(
        default=1000,
        metadata={
            "help": "bootstrap resamples (at least; raised so the smallest corrected p-value "
            "of the largest family is below alpha)"
        },
    )
    seed: int = field(default=0, metadata={"help": "bootstrap seed"})

    def validate(self, where: str) -> None:
        """Selectors name known fields; sizes are positive."""
        if self.n_boot < 100:
            raise UserError(f"{where}.n_boot: got {self.n_boot}; use at least 100 resamples")
        if not 0 < self.alpha < 1:
            raise UserError(f"{where}.alpha: got {self.alpha}; give a level in (0, 1), e.g. 0.05")
        if self.reference is not None:
            selector(self.reference, f"{where}.reference")
        for i, pair in enumerate(self.pairs or []):
            if len(pair) != 2:
                raise UserError(f"{where}.pairs[{i}]: give exactly two selectors, got {len(pair)}")
            for j, sel in enumerate(pair):
                selector(sel, f"{where}.pairs[{i}][{j}]")


def selector(sel: str | dict, where: str) -> dict:
    """Normalise a selector to ``{field: value}`` (see the module docstring)."""
    if isinstance(sel, str):
        label, _, mode = sel.partition(":")
        out: dict = {"model": label}
        if mode:
            out["mode"] = mode
    elif isinstance(sel, dict):
        out = dict(sel)
    else:
        raise UserError(f"{where}: got {sel!r}; give 'Label', 'Label:mode' or a mapping")
    if not out:
        raise UserError(f"{where}: an empty selector matches everything; name a field")
    for k in out:
        if k not in SELECTOR_FIELDS:
            raise UserError(f"{where}: unknown field {k!r}; allowed: {', '.join(SELECTOR_FIELDS)}")
    if "mode" in out and out["mode"] not in mode_names():
        allowed = ", ".join(mode_names())
        raise UserError(f"{where}.mode: got {out['mode']!r}; allowed: {allowed}")
    if out.get("calibration") == "none":  # the raw configurations (key: None)
        out["calibration"] = None
    if isinstance(out.get("augmentation"), bool):  # YAML reads off/on as booleans
        out["augmentation"] = "on" if out["augmentation"] else "off"
    text = out.get("text")
    if isinstance(text, str) and not (
        len(text) == 8 and all(c in "0123456789abcdef" for c in text)
    ):
        out["text"] = text_tag(text)
    return out
