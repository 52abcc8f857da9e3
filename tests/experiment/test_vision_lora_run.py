"""Vision-scope LoRA in a run: the vision-token cache is off and results equal --no-cache."""

from __future__ import annotations

import numpy as np
import pytest

from breastbench.cli import main

pytestmark = pytest.mark.slow  # two VLMs trained twice each (cached and --no-cache)


@pytest.mark.parametrize("name", ["vlm/test-smolvlm", "vlm/test-qwen2-vl"])
def test_vision_lora_runs_uncached_and_equals_no_cache(load_runs, write_config, tmp_path, name):
    model = {"name": name, "label": "m", "modes": ["lora"], "options": {"lora_scope": "vision"}}
    cfg = write_config([model], k=2, epochs=1)
    assert main(["run", "--no-report", str(cfg), "--out", str(tmp_path / "a")]) == 0
    assert main(["run", "--no-report", str(cfg), "--out", str(tmp_path / "b"), "--no-cache"]) == 0
    a, b = load_runs(tmp_path / "a"), load_runs(tmp_path / "b")
    assert a.keys() == b.keys() and len(a) == 2
    for k in a:
        assert a[k]["run"]["input_path"] == "ImageSource"  # vision side trains: no cache
        trainable = a[k]["run"]["trainable"]  # run.json records the scope and per-part counts
        assert trainable["lora_scope"] == "vision" and trainable["vision_trainable"]
        assert trainable["trainable_by_part"]["decoder"] == 0
        assert trainable["trainable_by_part"]["vision"] > 0
        pa = a[k]["predictions"]["prob_malignant"].to_numpy()
        pb = b[k]["predictions"]["prob_malignant"].to_numpy()
        np.testing.assert_allclose(pa, pb, atol=1e-6)
