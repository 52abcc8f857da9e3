"""`--executor ray` on a local Ray: same numbers as the local executor, retries, caches once."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd
import pytest

ray = pytest.importorskip("ray")
# one local Ray at a time: under pytest-xdist (`make test`) the module stays on one worker,
# beside the benchmark smoke test that starts Ray too
pytestmark = pytest.mark.xdist_group("ray")

from breastbench.cli import main  # noqa: E402
from breastbench.experiment import ray_executor  # noqa: E402

MODELS = [
    {"name": "cnn/test-resnet", "label": "cnn", "modes": ["finetune", "linear_probe"]},
    {
        "name": "vlm/test-smolvlm",
        "label": "smol",
        "modes": ["linear_probe", "lora", "zero_shot"],
        "prompt_set": "histology_binary",
        "shots": [0, 2],  # generative zero-shot and 2-shot in-context, on cached vision tokens
    },
]


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    marker = tmp_path_factory.mktemp("fault") / "killed-once"
    os.environ[ray_executor.FAULT_ENV] = str(marker)  # the first run task loses its worker
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ["RAY_AUTH_MODE"] = "disabled"
    # address="local": always a fresh instance of our own, even where RAY_ADDRESS is set or a
    # `ray start` cluster runs on the machine (ray.init would attach to it, then refuse num_cpus)
    ray.init(address="local", num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False)
    yield marker
    ray.shutdown()
    os.environ.pop(ray_executor.FAULT_ENV, None)


def _tables(out: Path) -> dict[str, tuple[pd.DataFrame, str]]:
    return {
        d.name: (pd.read_csv(d / "predictions.csv"), (d / "metrics.json").read_text())
        for d in sorted((out / "runs").iterdir())
        if (d / "metrics.json").exists()
    }


@pytest.mark.slow  # the grid run twice: locally and on Ray
def test_ray_equals_local_retries_and_builds_each_cache_once(
    local_ray, write_config, tmp_path, capsys
):
    cfg = write_config(MODELS, k=3)
    assert main(["run", str(cfg), "--no-report", "--out", str(tmp_path / "local")]) == 0
    capsys.readouterr()
    assert (
        main(["run", str(cfg), "--no-report", "--out", str(tmp_path / "ray"), "--executor", "ray"])
        == 0
    )
    log = capsys.readouterr().err
    assert local_ray.exists()  # a worker was killed mid-task ...
    local, remote = _tables(tmp_path / "local"), _tables(tmp_path / "ray")
    # 2 models x 2 modes x 3 folds, plus zero-shot and 2-shot in-context x 3 folds
    assert len(remote) == 18 and remote.keys() == local.keys()  # ... and the grid completed
    for run_id, (preds, metrics) in local.items():
        pd.testing.assert_frame_equal(remote[run_id][0], preds)  # bit for bit
        assert remote[run_id][1] == metrics
    m = re.search(
        r"(\d+) cache tasks built (\d+) cache files \((\d+) distinct\); runs built (\d+)",
        log.replace("\n", " "),
    )
    assert m, log
    tasks, built, distinct, by_runs = map(int, m.groups())
    assert built == distinct and by_runs == 0  # every cache once, never by a run
    on_disk = list((tmp_path / "ray" / "cache").rglob("*.npy"))
    assert len(on_disk) == built and tasks >= 2
    # a rerun runs nothing
    assert (
        main(["run", str(cfg), "--no-report", "--out", str(tmp_path / "ray"), "--executor", "ray"])
        == 0
    )
    assert "0 to run" in capsys.readouterr().err.replace("\n", " ")


@pytest.mark.slow  # a Ray grid cut mid-way
def test_interrupted_ray_grid_leaves_no_partial_folder(
    local_ray, write_config, tmp_path, monkeypatch
):
    cfg = write_config(MODELS[:1], k=3)
    real_wait = ray.wait
    calls = {"n": 0}

    def wait_then_ctrl_c(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real_wait(*a, **k)

    monkeypatch.setattr(ray, "wait", wait_then_ctrl_c)
    out = tmp_path / "cut"
    assert main(["run", str(cfg), "--no-report", "--out", str(out), "--executor", "ray"]) == 130
    runs = out / "runs"
    leftovers = [p.name for p in runs.iterdir() if p.name.startswith(".tmp-")]
    partial = [
        p.name
        for p in runs.iterdir()
        if p.is_dir() and not p.name.startswith(".") and not (p / "metrics.json").exists()
    ]
    assert leftovers == [] and partial == []


def test_a_task_larger_than_the_cluster_fails_at_once(local_ray, write_config, tmp_path, capsys):
    import yaml

    cfg = write_config(MODELS[:1], k=2)
    raw = yaml.safe_load(cfg.read_text())
    raw["resources"] = {"cpus": 64}
    cfg.write_text(yaml.safe_dump(raw))
    assert main(["run", str(cfg), "--no-report", "--executor", "ray"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "num_cpus=64" in err[-1] and "lower resources" in err[-1]
