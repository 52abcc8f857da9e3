"""A run killed with SIGKILL mid-way resumes with no duplicated or missing fold results."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from breastbench.cli import main

pytestmark = pytest.mark.slow  # a killed run resumed, and two concurrent runs: subprocess training

MODELS = [{"name": "cnn/test-resnet", "label": "cnn", "modes": ["finetune"]}]


def test_sigkill_mid_run_then_resume_equals_uninterrupted(load_runs, write_config, tmp_path):
    # 2 folds: the kill lands mid-way through the second (last) fold, so the resume still has a
    # finished fold to keep and an epoch checkpoint to continue from
    cfg = write_config(MODELS, aug=("on",), k=2, epochs=6, checkpoint_seconds=0)
    killed_out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "breastbench.cli", "run", str(cfg), "--out", str(killed_out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial_dir = killed_out / "runs" / ".partial"
    deadline = time.time() + 240
    # wait until the second fold is mid-training: one run complete, an epoch checkpoint saved
    while time.time() < deadline and proc.poll() is None:
        done = list((killed_out / "runs").glob("*/metrics.json"))
        if done and list(partial_dir.glob("*.pt")):
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    interrupted = load_runs(killed_out)
    assert len(interrupted) == 1
    assert list(partial_dir.glob("*.pt")), "no epoch checkpoint to resume from"

    assert main(["run", "--no-report", str(cfg), "--out", str(killed_out)]) == 0
    assert main(["run", "--no-report", str(cfg), "--out", str(tmp_path / "clean")]) == 0
    resumed, clean = load_runs(killed_out), load_runs(tmp_path / "clean")
    assert resumed.keys() == clean.keys() and len(clean) == 2
    for k in clean:
        assert resumed[k]["metrics"] == clean[k]["metrics"], k
        assert resumed[k]["predictions"].equals(clean[k]["predictions"])
    leftovers = [p.name for p in (killed_out / "runs").iterdir() if p.name.startswith(".tmp")]
    assert leftovers == [] and not list(partial_dir.glob("*.pt"))
    ids = [i for r in resumed.values() for i in r["predictions"]["image_id"]]
    assert len(ids) == len(set(ids)) == 96


def test_two_runs_starting_together_share_one_cache(write_config, tmp_path, load_runs):
    import yaml

    cfg_path = write_config(
        [{"name": "cnn/test-resnet", "label": "cnn", "modes": ["linear_probe"]}], k=2, epochs=2
    )
    data = yaml.safe_load(cfg_path.read_text())
    data["cache_dir"] = str(tmp_path / "shared_cache")
    cfg_path.write_text(yaml.safe_dump(data))
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "breastbench.cli",
                "run",
                str(cfg_path),
                "--out",
                str(tmp_path / n),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for n in ("a", "b")
    ]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0, err.decode()[-2000:]
    a, b = load_runs(tmp_path / "a"), load_runs(tmp_path / "b")
    assert a.keys() == b.keys() and len(a) == 2
    for k in a:
        assert a[k]["metrics"] == b[k]["metrics"]
    cache = tmp_path / "shared_cache"
    assert len(list((cache / "features").glob("*.npy"))) == 1  # built once, no temp left over
    assert len(list((cache / "images").glob("*.npy"))) == 1
