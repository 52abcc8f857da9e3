"""Shared fixtures: a config writer over the session's synthetic trees (tests/conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml


@pytest.fixture
def write_config(tmp_path, synth_root):
    """Write an experiment YAML with sensible test defaults; return its path."""

    def write(models, *, name="t", mags=(200,), aug=("off",), k=5, external=None, **training):
        cfg = {
            "name": name,
            "output_dir": str(tmp_path / "out"),
            "seed": 0,
            "synthetic": True,
            "datasets": [
                {
                    "name": "breakhis",
                    "source": "synthetic-breakhis",
                    "root": str(synth_root / "breakhis"),
                    "task": "binary",
                    "magnifications": list(mags),
                },
                {
                    "name": "bach",
                    "source": "synthetic-bach",
                    "root": str(synth_root / "bach"),
                    "task": "binary",
                    "cross_validate": False,
                },
            ],
            "models": models,
            "augmentation": list(aug),
            "cv": {"k": k, "seed": 0},
            "training": {"epochs": 1, "batch_size": 16, "lr": 3e-3, **training},
            "external": external or [],
        }
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        return path

    return write


@pytest.fixture
def load_runs():
    """The :func:`read_runs` function, as a fixture."""
    return read_runs


def read_runs(out: Path) -> dict[str, dict]:
    """run_id -> {run, metrics, predictions} of every complete run."""
    runs = {}
    for m in sorted((out / "runs").glob("*/metrics.json")):
        d = m.parent
        runs[d.name] = {
            "run": json.loads((d / "run.json").read_text()),
            "metrics": json.loads(m.read_text()),
            "predictions": pd.read_csv(d / "predictions.csv"),
        }
    return runs
