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


def test_plan_shows_what_micro_batch_auto_saves(capsys, monkeypatch, tmp_path):
    """The study's SmolVLM micro-batch 8 vs the table's auto rates (micro 32 on the H100)."""
    from breastbench.experiment.plan import run_seconds, throughput_table

    monkeypatch.chdir(tmp_path)
    study = CONFIGS / "breakhis_cnn_vs_vlm.yaml"
    assert main(["plan", "--skip-preflight", str(study), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    auto = plan["micro_batch_auto"]
    smol = [c for c in plan["configurations"] if "SmolVLM__lora" in c["config_id"]]
    others = [c for c in plan["configurations"] if "SmolVLM__lora" not in c["config_id"]]
    assert all(c["auto_saves_hours"] > 0 for c in smol)
    assert all(c["auto_saves_hours"] == 0 for c in others)
    assert auto["saves_device_hours"] == pytest.approx(
        sum(c["auto_saves_hours"] for c in smol), abs=0.01
    )
    assert auto["device_hours_with_auto"] == pytest.approx(
        plan["device_hours"] - auto["saves_device_hours"], abs=0.011
    )
    assert "micro-batch 8 -> auto 32" in auto["detail"][0]
    # one run by hand: 40X, aug off, fold of 1995 images, 20 epochs, rates from the table
    rates = throughput_table()["h100"]["models"]["vlm/smolvlm"]
    spec = next(
        s
        for s in expand(load_config(study))
        if s.key.config_id == "breakhis__40x__SmolVLM__lora__aug-off"
    )
    n_train, n_test = 1995 * 4 / 5, 1995 / 5
    slow = run_seconds(spec, rates, n_train, n_test, 20)
    fast = run_seconds(spec, {**rates, **rates["auto"]}, n_train, n_test, 20)
    c40 = next(c for c in smol if c["config_id"] == "breakhis__40x__SmolVLM__lora__aug-off")
    assert c40["auto_saves_hours"] == pytest.approx(5 * (slow - fast) / 3600, abs=1e-3)
    assert main(["plan", "--skip-preflight", str(study)]) == 0
    text = " ".join(capsys.readouterr().out.split())  # rich wraps the title
    assert "micro_batch_size: auto would save ~6." in text and "auto saves" in text

    # the config says auto: estimated with the auto rates, nothing left to save
    cfg = study.read_text().replace("micro_batch_size: 8 ", "micro_batch_size: auto ")
    (tmp_path / "auto.yaml").write_text(cfg)
    assert main(["plan", "--skip-preflight", str(tmp_path / "auto.yaml"), "--json"]) == 0
    with_auto = json.loads(capsys.readouterr().out)
    assert with_auto["micro_batch_auto"]["saves_device_hours"] == 0
    assert with_auto["device_hours"] == pytest.approx(auto["device_hours_with_auto"], abs=0.02)


def test_plan_reads_a_measured_throughput_file(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    study = CONFIGS / "breakhis_cnn_vs_vlm.yaml"
    table = {
        "h100": {
            "source": "gpu_check on my H100",
            "models": {
                "vlm/smolvlm": {
                    "eval": 335.1,
                    "vision": 490.5,
                    "lora_cached": 56.0,
                    "lora_images": 45.4,
                    "micro_batch": 8,
                    "auto": {"micro_batch": 64, "lora_cached": 560.0, "lora_images": 454.0},
                }
            },
        }
    }
    path = tmp_path / "throughput-h100.json"
    path.write_text(json.dumps(table))
    assert main(["plan", "--skip-preflight", str(study), "--json", "--throughput", str(path)]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["throughput_source"].startswith("gpu_check on my H100; other models:")
    assert "auto 64" in plan["micro_batch_auto"]["detail"][0]
    path.write_text("{}")
    assert main(["plan", "--skip-preflight", str(study), "--throughput", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"--throughput {path}: no device kind" in err and "Traceback" not in err
