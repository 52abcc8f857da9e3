"""Vision-encoder LoRA switches the vision-token cache off: the run equals a --no-cache run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from breastbench.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from helpers import datasets  # noqa: E402

pytestmark = pytest.mark.slow  # a LoRA-scope sweep trained twice (cached and --no-cache)


def test_vision_scope_lora_is_never_cached(tmp_path, synth):
    cfg = {
        "name": "vis",
        "output_dir": str(tmp_path / "out"),
        "synthetic": True,
        "datasets": datasets(synth)[:1],
        "models": [
            {
                "name": "vlm/test-smolvlm",
                "label": "S",
                "modes": ["lora"],
                "sweep": {"lora_scope": ["decoder", "vision"]},
            }
        ],
        "cv": {"k": 2, "seed": 0},
        "training": {"epochs": 1, "batch_size": 16, "lr": 3e-3},
    }
    path = tmp_path / "v.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    a, b = tmp_path / "cached", tmp_path / "live"
    assert main(["run", str(path), "--no-report", "--out", str(a), "--only", "*fold0"]) == 0
    assert (
        main(["run", str(path), "--no-report", "--out", str(b), "--only", "*fold0", "--no-cache"])
        == 0
    )
    paths = {}
    for d in sorted((a / "runs").glob("*fold0")):
        run = json.loads((d / "run.json").read_text())
        paths[run["model"]] = run["input_path"]
        parts = run["trainable"]["trainable_by_part"]
        if "vision" in run["model"] and "decoder" not in run["model"]:
            assert parts["vision"] > 0 and parts["decoder"] == 0
            other = pd.read_csv(b / "runs" / d.name / "predictions.csv")
            pd.testing.assert_frame_equal(pd.read_csv(d / "predictions.csv"), other)
    assert paths == {"S[lora_scope=decoder]": "TensorSource", "S[lora_scope=vision]": "ImageSource"}
