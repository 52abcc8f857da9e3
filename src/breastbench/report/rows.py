"""How the report reads the analysis' rows: CNN/VLM group, experiment-file order, estimates.

Shared by the headline answer (:mod:`breastbench.report.headline`), its figures and the
comparison tables; nothing here computes a statistic.
"""

from __future__ import annotations

import math

import numpy as np

from breastbench.report.summary import ConfigSummary

REPLICATE_COLUMNS = ("fold", "seed")


def vlm_group(s: ConfigSummary) -> str:
    """``CNN`` or ``VLM`` (CLIP-style and generative vision-language models together)."""
    return "CNN" if s.family == "cnn" else "VLM"


def num(x) -> float:
    """``x`` as a float; NaN for anything that is not a number."""
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def significant(row: dict) -> bool:
    """The analysis' ``significant`` flag, or corrected p below ``alpha`` (0.05 by default)."""
    flag = row.get("significant")
    if isinstance(flag, (bool, np.bool_)):
        return bool(flag)
    if isinstance(flag, str) and flag.lower() in ("true", "false"):
        return flag.lower() == "true"
    alpha = num(row.get("alpha"))
    alpha = 0.05 if math.isnan(alpha) else alpha
    p_adj = num(row.get("p_adj"))
    return not math.isnan(p_adj) and p_adj < alpha


def estimate(row: dict) -> float:
    """The primary estimate (A − B): ``estimate`` when the analysis writes it, else ``effect``."""
    value = num(row.get("estimate"))
    return num(row.get("effect")) if math.isnan(value) else value


MODE_RANK = ("finetune", "lora", "linear_probe", "tuned_probe", "simpleshot", "knn", "zero_shot")


def config_rank(s: ConfigSummary, order: list[str]) -> tuple:
    """Experiment-file order: model position, then the most adapted mode (never a score)."""
    pos = order.index(s.model) if s.model in order else len(order)
    mode = MODE_RANK.index(s.mode) if s.mode in MODE_RANK else len(MODE_RANK)
    return (pos, s.model, mode, s.text or "")
