"""Real VLM architectures from the shipped configs: meta-device counts and missing weights."""

from __future__ import annotations

import pytest
import torch

import breastbench.models.vlm  # noqa: F401  (registers vlm/*)
from breastbench.errors import MissingWeightsError
from breastbench.models import registry


def lora_on_meta(name):
    with torch.device("meta"):
        model = registry.build(name, 2)
    return model.set_mode("lora")


@pytest.mark.parametrize(
    ("name", "layers", "expected_lora"),
    [
        # Qwen2-VL-2B: hidden 1536, 12 heads x 128, 2 KV heads -> k/v out 256
        ("vlm/qwen2-vl-2b", 28, 28 * 16 * ((1536 + 1536) * 2 + (1536 + 256) * 2)),
        # SmolVLM-Instruct: Llama hidden 2048, 32 heads = 32 KV heads
        ("vlm/smolvlm", 24, 24 * 16 * (2048 + 2048) * 4),
    ],
)
def test_study_models_lora_counts_on_meta(name, layers, expected_lora):
    model = lora_on_meta(name)
    report = model.trainable_report()
    assert report["lora_params"] == report["peft_trainable_params"] == expected_lora
    assert report["trainable_params"] == expected_lora + report["head_params"]
    assert 4_000_000 <= report["trainable_params"] <= 9_000_000  # study: ~5-8M
    assert report["lora_modules"] == layers * 4
    assert model.head.weight.device.type == "meta"


@pytest.mark.parametrize(
    ("name", "total_millions", "tokens"),
    [
        ("vlm/qwen2-vl-2b", 2209, 144),  # bare model (no LM head, tied in the checkpoint)
        ("vlm/smolvlm", 2146, 64),  # + a 101M untied LM head = the published 2.25B
        ("vlm/smolvlm-500m", 460, 36),
        ("vlm/smolvlm-256m", 228, 36),
    ],
)
def test_real_architectures_build_on_meta(name, total_millions, tokens):
    with torch.device("meta"):
        model = registry.build(name, 2)
    backbone = sum(p.numel() for p in model.core.parameters())
    assert round(backbone / 1e6) == total_millions
    assert model.num_image_tokens == tokens


def test_data_configs_follow_processors():
    qwen, smol = registry.get_info("vlm/qwen2-vl-2b"), registry.get_info("vlm/smolvlm")
    assert qwen.input_size == smol.input_size == (3, 336, 336)
    assert qwen.mean[0] == pytest.approx(0.48145466) and smol.mean == (0.5, 0.5, 0.5)
    assert qwen.licence == smol.licence == "Apache-2.0"


@pytest.mark.parametrize("name", ["vlm/qwen2-vl-2b", "vlm/smolvlm", "vlm/smolvlm-256m"])
def test_missing_weights_offline_is_one_line(name, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub_id = registry.get_info(name).extra["hub_id"]
    with pytest.raises(MissingWeightsError) as err:
        registry.build(name, 2, weights="pretrained")
    message = str(err.value)
    assert "\n" not in message and hub_id in message and "/path/to/folder" in message
    with pytest.raises(MissingWeightsError) as err:
        registry.build(name, 2, weights=str(tmp_path / "nowhere"))
    assert "\n" not in str(err.value) and hub_id in str(err.value)
