"""A RunSpec is its RunKey, the config's model entry and what the key lacks, nothing restated.

The local executor hands the spec itself to ``execute``; Ray ships ``to_dict()`` with the config
and a worker rebuilds both (``ray_executor._context``), so the round trip through a rebuilt
config must give the same run with the worker's own model entry.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest

from breastbench.experiment.config import ExperimentConfig, load_config
from breastbench.experiment.grid import RunSpec, expand
from breastbench.experiment.schema import from_dict, to_dict

CONFIGS = Path(__file__).parents[2] / "configs"


def test_a_spec_holds_the_key_the_entry_the_training_seed_and_the_template():
    assert [f.name for f in fields(RunSpec)] == ["key", "entry", "seed", "text"]


@pytest.mark.parametrize("name", ["demo", "followup_vlm_adaptation", "histology_multicenter"])
def test_a_worker_rebuilds_every_spec_with_its_own_config_entry(name):
    cfg = load_config(CONFIGS / f"{name}.yaml")
    worker_cfg = from_dict(ExperimentConfig, json.loads(json.dumps(to_dict(cfg))), "")
    for spec in expand(cfg):
        assert any(spec.entry is m for m in cfg.models)  # the config's object, not a copy
        assert spec.key.model == spec.entry.display
        shipped = json.loads(json.dumps(spec.to_dict()))  # plain data across the process
        again = RunSpec.from_dict(shipped, worker_cfg)
        assert again == spec and again.run_id == spec.run_id
        assert any(again.entry is m for m in worker_cfg.models)
        assert again.entry == spec.entry and again.seed == spec.seed and again.text == spec.text
        assert again.record(worker_cfg) == spec.record(cfg)


def test_run_json_fields_come_from_the_key_the_entry_and_the_training_seed():
    cfg = load_config(CONFIGS / "histology_multicenter.yaml")
    specs = expand(cfg)
    cv = next(s for s in specs if s.key.external is None)
    ext = next(s for s in specs if s.key.external is not None)
    rec = cv.record(cfg)
    assert list(rec) == [
        "dataset", "magnification", "model", "model_index", "mode", "augmentation", "fold",
        "seed", "external", "text", "shots", "draw",
    ]  # fmt: skip
    assert cfg.models[rec["model_index"]] is cv.entry
    assert rec["seed"] == cfg.seed and cv.key.seed is None  # the training seed, not an axis
    assert rec["fold"] == cv.key.fold is not None and rec["external"] is None
    assert ext.record(cfg)["seed"] == ext.key.seed == ext.seed  # an external run's replicate
    assert ext.record(cfg)["fold"] is None
