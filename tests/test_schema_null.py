"""``key: null`` stays None through the schema, also on a config's round trip (Ray workers)."""

from __future__ import annotations

from pathlib import Path

from breastbench.experiment.config import ExperimentConfig, load_config
from breastbench.experiment.robustness import RobustnessConfig
from breastbench.schema import coerce, from_dict, to_dict

CONFIGS = Path(__file__).parents[1] / "configs"


def test_null_for_an_optional_section_is_none():
    assert coerce(None, RobustnessConfig | None, "robustness") is None
    assert isinstance(coerce({}, RobustnessConfig | None, "robustness"), RobustnessConfig)


def test_a_config_without_robustness_keeps_none_after_a_round_trip():
    """Ray workers rebuild the config from its dict: no perturbation study may appear."""
    cfg = load_config(CONFIGS / "demo.yaml")
    assert cfg.robustness is None
    again = from_dict(ExperimentConfig, to_dict(cfg), "")
    assert again.robustness is None
