"""save_checkpoint/load_checkpoint rebuild the new adaptation options and reproduce outputs."""

from __future__ import annotations

import pytest
import torch

from breastbench.errors import UserError
from breastbench.models import create
from breastbench.models.checkpoint import load_checkpoint, save_checkpoint

CASES = [
    ("vlm/test-smolvlm", "lora", {"lora_scope": "vision", "lora_r": 4}),
    ("vlm/test-qwen2-vl", "lora", {"lora_scope": "all", "lora_r": 4}),
    ("cnn/test-resnet", "lora", {"lora_r": 4}),
    ("cnn/test-resnet", "finetune", {"finetune_stages": 2}),
    ("clip/test-biomedclip", "lora", {"lora_r": 4}),
]


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))


@pytest.mark.parametrize(("name", "mode", "options"), CASES, ids=lambda v: str(v))
def test_round_trip(tmp_path, name, mode, options):
    torch.manual_seed(0)
    model = create(name, 2, **options).set_mode(mode)
    with torch.no_grad():
        for p in model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.1)
    model.eval()
    x = torch.randn(2, *model.data_config["input_size"], generator=torch.Generator().manual_seed(3))
    save_checkpoint(model, tmp_path / "ckpt")
    again = load_checkpoint(tmp_path / "ckpt")
    assert again.build_kwargs == options and again.mode == mode
    assert (
        again.trainable_report()["trainable_params"] == model.trainable_report()["trainable_params"]
    )
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x))


def test_cnn_lora_on_local_weights_saves_head_and_adapters_only(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    base = create("cnn/test-resnet", 2)
    weights = tmp_path / "trunk.safetensors"
    save_file({k: v.contiguous() for k, v in base.trunk.state_dict().items()}, str(weights))
    model = create("cnn/test-resnet", 2, weights=str(weights), lora_r=4).set_mode("lora")
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_()
    model.eval()
    state = model.checkpoint_state()
    assert not model.checkpoint_is_full()
    assert all(k.startswith("head.") or (k.startswith("lora.") and "lora_" in k) for k in state)
    save_checkpoint(model, tmp_path / "ckpt")
    again = load_checkpoint(tmp_path / "ckpt")
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x))
    # adapters of another rank do not fit: one line naming the model
    other = create("cnn/test-resnet", 2, weights=str(weights), lora_r=8).set_mode("lora")
    with pytest.raises(UserError, match="LoRA checkpoint does not fit 'cnn/test-resnet': "):
        other.load_checkpoint_state(state)
