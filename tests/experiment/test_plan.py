"""`breastbench plan`: run counts equal the grid; estimates come from the shipped table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from breastbench.cli import main
from breastbench.experiment.config import load_config
from breastbench.experiment.grid import expand

CONFIGS = Path(__file__).parents[2] / "configs"


@pytest.mark.parametrize("name", sorted(p.stem for p in CONFIGS.glob("*.yaml")))
def test_plan_counts_equal_the_grid(name, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no data here: published sizes are used
    path = CONFIGS / f"{name}.yaml"
    # no data and no weights here: the plan prints, the preflight lists why `run` would stop
    assert main(["plan", str(path), "--json"]) == 2
    assert any("datasets[0].root" in p for p in json.loads(capsys.readouterr().out)["preflight"])
    assert main(["plan", str(path), "--json", "--skip-preflight"]) == 0
    plan = json.loads(capsys.readouterr().out)
    grid = expand(load_config(path))
    assert plan["runs"] == len(grid)
    assert sum(c["runs"] for c in plan["configurations"]) == len(grid)
    assert len(plan["configurations"]) == len({s.key.config_id for s in grid})
    assert plan["device_hours"] > 0 or name == "demo"
    assert plan["throughput_source"]
    if name == "breakhis_cnn_vs_vlm":
        assert len(grid) == 7 * 4 * 2 * 5 + 2 * 4 * 3  # CV grid + external block (3 seeds)
        assert "published size" in plan["datasets"]["breakhis"]["origin"]
        assert plan["datasets"]["breakhis"]["images"]["40"] == 1995
        assert 10 < plan["device_hours"] < 25  # bench/ measured ~16 h on one H100
    assert main(["plan", str(path), "--skip-preflight"]) == 0  # the table renders
    assert "device-hours" in capsys.readouterr().out


def test_plan_counts_data_on_disk_and_complete_runs(write_config, tmp_path, capsys):
    cfg = write_config([{"name": "cnn/test-resnet", "modes": ["finetune"]}], k=2)
    assert main(["run", "--no-report", str(cfg), "--only", "*fold0"]) == 0
    capsys.readouterr()
    assert main(["plan", str(cfg), "--json", "--device-kind", "cpu"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["datasets"]["breakhis"]["origin"].startswith("data on disk")
    assert plan["runs"] == 2 and plan["complete"] == 1
