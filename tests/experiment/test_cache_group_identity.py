"""One cache-group rule: what ``plan`` (and Ray) count is what the local executor builds.

``plan`` and ``ray_executor`` group runs by :func:`breastbench.experiment.cachegroup.cache_group`;
the local executor builds a cache file whose key is derived from the model's parameters and the
images. The two must agree: the number of feature files the local run writes equals the plan's
count, including the seed where weights are random (the bug the registry fixed: the plan's key
omitted the seed while Ray's included it).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from breastbench.cli import main
from breastbench.experiment import cachegroup, plan, ray_executor
from breastbench.experiment.config import load_config
from breastbench.experiment.grid import expand

CONFIGS = Path(__file__).parents[2] / "configs"


def test_plan_and_ray_use_the_one_rule():
    assert plan.cache_group is cachegroup.cache_group
    assert ray_executor.cache_group is cachegroup.cache_group


@pytest.mark.parametrize("name", sorted(p.stem for p in CONFIGS.glob("*.yaml")))
def test_every_shipped_config_groups_probe_runs_with_their_feature_cache(name):
    cfg = load_config(CONFIGS / f"{name}.yaml")
    for spec in expand(cfg):
        group = cachegroup.cache_group(spec)
        kind = cachegroup.input_kind(spec)
        assert group[0] == kind
        if spec.key.mode in ("knn", "simpleshot", "tuned_probe"):
            assert kind == "features", spec.run_id  # fitted probes always read the features
        if spec.key.mode == "linear_probe" and spec.key.augmentation == "off":
            assert kind == "features", spec.run_id  # a trained head on frozen features
        if kind == "images":  # an image group never carries a seed or text
            assert len(group) == 5, spec.run_id


@pytest.mark.slow  # every cache of a study built
def test_local_run_builds_exactly_the_planned_feature_caches(write_config, tmp_path, capsys):
    models = [
        {"name": "cnn/test-resnet", "label": "r", "modes": ["linear_probe", "knn", "finetune"]},
        {
            "name": "clip/test-biomedclip",
            "label": "c",
            "modes": ["zero_shot", "linear_probe"],
            "prompt_set": "histology_binary",
        },
    ]
    external = [{"train": "breakhis", "test": "bach", "seeds": [0, 1], "modes": ["linear_probe"]}]
    cfg = write_config(models, k=2, external=external)
    capsys.readouterr()
    assert main(["plan", str(cfg), "--json", "--skip-preflight"]) == 0
    planned = json.loads(capsys.readouterr().out)["cache_builds"]
    # random weights: each seed draws other parameters. Per model: the CV runs (seed 0) and
    # the external runs (train breakhis + test bach) under seeds 0 and 1
    assert planned["features"] == 2 * (1 + 2)
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out), "--no-report"]) == 0
    data = yaml.safe_load(cfg.read_text())
    cache = Path(data.get("cache_dir") or out / "cache")
    built = sorted(cache.rglob("features/*.npy"))
    assert len(built) == planned["features"], built
