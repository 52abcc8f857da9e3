"""The built-in learning modes, in the order tables and help texts list them.

Gradient modes are declared here; the probe-like ones live one per module
(:mod:`~breastbench.modes.knn`, :mod:`~breastbench.modes.simpleshot`,
:mod:`~breastbench.modes.tuned_probe`), as a user's own mode would.
"""

from __future__ import annotations

from breastbench.modes.registry import Mode, register_mode

register_mode(
    Mode(
        "zero_shot",
        "zero-shot",
        state="zero_shot",
        frozen=True,
        input="features",
        generative_input="vision",  # a VLM scores its answers on cached vision tokens
        requires=("text_head",),
    )
)
register_mode(
    Mode(
        "linear_probe",
        "linear probe",
        state="linear_probe",
        frozen=True,
        input="features",
        requires=("features",),
    )
)
register_mode(Mode("finetune", "fine-tune", state="finetune", frozen=False, requires=("finetune",)))
register_mode(
    Mode(
        "lora",
        "LoRA",
        state="lora",
        frozen=False,
        generative_input="vision",  # VLM LoRA on the decoder trains on cached vision tokens
        requires=("lora",),
    )
)

from breastbench.modes import knn, simpleshot, tuned_probe  # noqa: E402,F401 - register in order
