"""The experiment file's ``published:`` and ``report:`` sections (their own dataclasses).

``published:`` lists numbers a paper reported, so the report can put them beside ours::

    published:
      - {metric: auc, config: {model: ResNet34, mode: finetune, magnification: 40,
         augmentation: "off"}, mean: 0.9984, std: 0.002, source: "Table 4"}
      - {metric: accuracy, config: "SmolVLM:lora", versus: "Qwen2-VL-2B:lora", p: 0.021,
         source: "Table 7"}

An entry with ``mean`` is a configuration's score; one with ``versus`` and ``p`` is a published
p-value of a comparison. ``config`` and ``versus`` are selectors as in ``compare:``
(``"Label"``, ``"Label:mode"`` or a mapping of run-key fields).

``report:`` picks what the report draws: ``explain: ["ResNet34:finetune", "SmolVLM:lora"]``
names the configurations that get explanation maps (default: the reference pair, never chosen
on test scores).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from breastbench.errors import UserError
from breastbench.results.spec import selector


@dataclass
class PublishedValue:
    """One published number: a configuration's mean (± std) or a comparison's p-value."""

    metric: str = field(default=None, metadata={"help": "metric key, e.g. auc, accuracy, f1"})
    config: str | dict = field(
        default=None, metadata={"help": "selector of the configuration, e.g. ResNet34:finetune"}
    )
    mean: float | None = field(default=None, metadata={"help": "published mean"})
    std: float | None = field(default=None, metadata={"help": "published standard deviation"})
    versus: str | dict | None = field(
        default=None, metadata={"help": "for a published p-value: the other configuration"}
    )
    p: float | None = field(default=None, metadata={"help": "published p-value (with versus)"})
    test: str = field(default="wilcoxon", metadata={"help": "test of a published p-value"})
    source: str = field(default="", metadata={"help": "where it was published, e.g. Table 4"})

    def validate(self, where: str) -> None:
        """A metric and a selector; either a mean, or a versus selector with a p-value."""
        if not self.metric:
            raise UserError(f"{where}.metric: required, e.g. auc")
        if self.config is None:
            raise UserError(f"{where}.config: required, e.g. 'ResNet34:finetune'")
        selector(self.config, f"{where}.config")
        if self.versus is not None:
            selector(self.versus, f"{where}.versus")
            if self.p is None:
                raise UserError(f"{where}.p: a published comparison (versus) needs its p-value")
        elif self.mean is None:
            raise UserError(f"{where}.mean: required (or give versus and p for a p-value)")


@dataclass
class ReportSpec:
    """What the report draws beyond the tables."""

    explain: list[str | dict] | None = field(
        default=None,
        metadata={
            "help": "configurations that get explanation maps, e.g. [ResNet34:finetune, "
            "SmolVLM:lora]; default: the reference pair (never chosen on test scores)"
        },
    )

    def validate(self, where: str) -> None:
        """Every entry is a valid selector."""
        for i, sel in enumerate(self.explain or []):
            selector(sel, f"{where}.explain[{i}]")
