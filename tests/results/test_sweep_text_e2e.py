"""Sweeps and text templates are first-class configurations, end to end through the CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from breastbench.cli import main
from breastbench.results import RunKey

sys.path.insert(0, str(Path(__file__).parent))
from helpers import datasets  # noqa: E402

pytestmark = pytest.mark.slow  # a LoRA-rank sweep x two text templates, trained

T1, T2 = "Magnification: {magnification}x", "A {dataset} slide at {magnification}x"


def test_lora_rank_sweep_and_two_text_templates(tmp_path, synth):
    cfg = {
        "name": "sweep",
        "output_dir": str(tmp_path / "out"),
        "synthetic": True,
        "datasets": datasets(synth)[:1],
        "models": [
            {
                "name": "vlm/test-smolvlm",
                "label": "S",
                "modes": ["lora"],
                "sweep": {"lora_r": [2, 4, 8]},
            },
            {
                "name": "vlm/test-qwen2-vl",
                "label": "Q",
                "modes": ["lora"],
                "text_context": [T1, T2],
            },
        ],
        "cv": {"k": 2, "seed": 0},
        "training": {"epochs": 1, "batch_size": 16, "lr": 3e-3},
    }
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    out = tmp_path / "out"
    assert main(["run", str(path), "--no-explain"]) == 0
    agg = pd.read_csv(out / "summary" / "aggregate.csv")
    models = sorted(set(agg["model"]))
    assert models == ["Q", "S[lora_r=2]", "S[lora_r=4]", "S[lora_r=8]"]
    table = pd.read_csv(out / "report" / "tables" / "results_breakhis_aug-off.csv")
    assert {"S[lora_r=2]", "S[lora_r=4]", "S[lora_r=8]"} <= set(table["Model"])
    comp = pd.read_csv(out / "summary" / "comparisons.csv")
    pairs = {
        (RunKey.parse(a).model, RunKey.parse(b).model)
        for a, b in zip(comp["config_a"], comp["config_b"])
    }
    # the default family: each configuration vs its subset's first one (r=2 comes first)
    assert {("S[lora_r=4]", "S[lora_r=2]"), ("S[lora_r=8]", "S[lora_r=2]")} <= pairs
    # two templates: two configurations, different numbers, each recorded with its run
    q = sorted((out / "runs").glob("*__Q__*fold0"))
    assert len(q) == 2
    texts = {json.loads((d / "run.json").read_text())["text_context"] for d in q}
    assert texts == {T1, T2}
    probs = [pd.read_csv(d / "predictions.csv")["prob_malignant"].to_numpy() for d in q]
    assert not np.allclose(probs[0], probs[1])
    for d in q:
        meta = json.loads((d / "checkpoint" / "meta.json").read_text())
        run = json.loads((d / "run.json").read_text())
        assert meta["preprocessing"]["text_context"] == run["text_context"]
        expected = pd.read_csv(d / "predictions.csv")
        target = tmp_path / f"{d.name}.csv"
        assert main(["predict", str(d), *expected["path"], "-o", str(target)]) == 0
        got = pd.read_csv(target).set_index("path").loc[expected["path"]]
        np.testing.assert_allclose(got["prob_malignant"], expected["prob_malignant"], atol=1e-6)
