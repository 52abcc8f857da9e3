"""Parameter-matched modes run end to end: CNN LoRA, CNN last-stage fine-tuning, CLIP LoRA."""

from __future__ import annotations

import pytest

from breastbench.cli import main

pytestmark = pytest.mark.slow  # CNN LoRA, CNN stages and CLIP LoRA studies trained


def test_cnn_lora_cnn_stages_and_clip_lora_run(load_runs, write_config, tmp_path):
    models = [
        {
            "name": "cnn/test-resnet",
            "label": "cnn-lora",
            "modes": ["lora"],
            "options": {"lora_r": 4},
        },
        {
            "name": "cnn/test-resnet",
            "label": "cnn-last1",
            "modes": ["finetune"],
            "options": {"finetune_stages": 1},
        },
        {
            "name": "clip/test-biomedclip",
            "label": "clip-lora",
            "modes": ["lora"],
            "prompt_set": "histology_binary",
            "options": {"lora_r": 4},
        },
    ]
    cfg = write_config(models, k=2, epochs=1)
    assert main(["run", "--no-report", str(cfg), "--out", str(tmp_path / "out")]) == 0
    runs = load_runs(tmp_path / "out")
    assert len(runs) == 3 * 2
    for r in runs.values():
        trainable = r["run"]["trainable"]
        assert 0 < trainable["trainable_params"] < trainable["total_params"]
        assert sum(trainable["trainable_by_part"].values()) == trainable["trainable_params"]
        if r["run"]["mode"] == "lora":
            peft = trainable["peft_trainable_params"]
            assert trainable["trainable_params"] == peft + trainable["head_params"]
        else:
            assert trainable["finetune_stages"] == 1
            assert trainable["trainable_by_part"]["stage3"] == 0
