"""Each new family path runs through `breastbench run` on its tiny variant (synthetic BreakHis).

timm ViT (UNI twin), transformers ViT (Phikon twin), transformers CLIP (PLIP twin), open_clip
(QuiltNet twin) and a plugin file: linear probe; the CLIP-capable ones also zero-shot.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from breastbench.cli import main
from breastbench.data import synthesize

PLUGIN = Path(__file__).parent / "plugins" / "tiny_plugin.py"
MODELS = [
    {"name": "vit/test-uni", "label": "uni", "modes": ["linear_probe"]},
    {"name": "vit/test-phikon", "label": "phikon", "modes": ["linear_probe"]},
    {
        "name": "clip/test-plip",
        "label": "plip",
        "modes": ["zero_shot", "linear_probe"],
        "prompt_set": "histology_binary",
    },
    {
        "name": "clip/test-quiltnet",
        "label": "quilt",
        "modes": ["zero_shot", "linear_probe"],
        "prompt_set": "histology_binary",
    },
    {
        "name": f"plugin:{PLUGIN}:build",
        "label": "plugin",
        "modes": ["linear_probe"],
        "options": {"width": 4},
    },
]


def _config(tmp_path: Path, models) -> Path:
    root = synthesize("synthetic-breakhis", tmp_path / "breakhis", seed=0)
    cfg = {
        "name": "families",
        "output_dir": str(tmp_path / "out"),
        "seed": 0,
        "synthetic": True,
        "datasets": [
            {
                "name": "breakhis",
                "source": "synthetic-breakhis",
                "root": str(root),
                "task": "binary",
                "magnifications": [200],
            }
        ],
        "models": models,
        "augmentation": ["off"],
        "cv": {"k": 2, "seed": 0},
        "training": {"epochs": 1, "batch_size": 16, "lr": 3e-3},
    }
    path = tmp_path / "families.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.mark.slow  # every new family trained and reported
def test_new_families_run_end_to_end(tmp_path):
    out = tmp_path / "run"
    assert main(["run", str(_config(tmp_path, MODELS)), "--out", str(out)]) == 0
    seen = set()
    for metrics in sorted((out / "runs").glob("*/metrics.json")):
        run = json.loads((metrics.parent / "run.json").read_text())
        pred = pd.read_csv(metrics.parent / "predictions.csv")
        p = pred["prob_malignant"].to_numpy()
        assert len(pred) > 0 and np.all((p >= 0) & (p <= 1))
        seen.add((json.dumps(run, sort_keys=True).count("zero_shot") > 0, metrics.parent.name))
    names = " ".join(name for _, name in seen)
    for label in ("uni", "phikon", "plip", "quilt", "plugin"):
        assert label in names, f"no run folder for {label}: {names}"
    assert len(seen) == 2 * (1 + 1 + 2 + 2 + 1)  # folds x (model, mode) pairs


def test_broken_plugin_in_a_config_is_one_line(tmp_path, capsys):
    broken = Path(__file__).parent / "plugins" / "broken_plugin.py"
    models = [{"name": f"plugin:{broken}:build", "modes": ["linear_probe"]}]
    code = main(["run", str(_config(tmp_path, models)), "--out", str(tmp_path / "o")])
    assert code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and "lacks features(images), data_config (dict)" in errors[0]
    assert "Traceback" not in capsys.readouterr().err
