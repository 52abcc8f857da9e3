"""LoRA on the CLIP image tower through peft: only image-tower adapters and the head train."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from breastbench.cli import main
from breastbench.models import create

NAME = "clip/test-biomedclip"


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))


def make(**kw):
    torch.manual_seed(0)
    return create(NAME, 2, **kw)


def test_lora_adapts_every_image_tower_linear_only():
    from peft.tuners.lora import LoraLayer

    bare = make()
    linears = {n for n, m in bare.clip.visual.named_modules() if isinstance(m, nn.Linear)}
    model = make(lora_r=4).set_mode("lora")
    visual = model.clip.visual
    adapted = {
        n.removeprefix("base_model.model.")
        for n, m in visual.named_modules()
        if isinstance(m, LoraLayer)
    }
    assert adapted == linears
    train = {n for n, p in model.named_parameters() if p.requires_grad}
    lora = train - {"head.weight", "head.bias"}
    assert lora and all(n.startswith("clip.visual.") and "lora_" in n for n in lora)
    peft_trainable, _ = visual.get_nb_trainable_parameters()
    report = model.trainable_report()
    assert report["trainable_params"] == peft_trainable + report["head_params"]
    assert report["trainable_by_part"]["text_tower"] == 0
    assert report["trainable_by_part"]["image_tower"] == peft_trainable


def test_lora_changes_image_features_and_round_trips():
    model = make(lora_r=4).set_mode("lora")
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    model.eval()
    before = model.features(x).detach().clone()
    text_before = model.encode_text(["a benign tile"]).clone()
    opt = torch.optim.SGD(list(model.trainable_parameters()), lr=1.0)
    model.train()
    (model(x).sum() + model.features(x).sum()).backward()
    opt.step()
    model.eval()
    with torch.no_grad():
        assert not torch.allclose(model.features(x), before)
        torch.testing.assert_close(model.encode_text(["a benign tile"]), text_before)
        other = make(lora_r=4)
        other.load_checkpoint_state(model.checkpoint_state())
        other.eval()
        torch.testing.assert_close(other(x), model(x))


def test_models_info_counts_clip_lora(capsys):
    argv = ["models", "info", NAME, "--mode", "lora", "--option", "lora_r=4", "--json"]
    assert main(argv) == 0
    d = json.loads(capsys.readouterr().out)
    peft_trainable, _ = make(lora_r=4).set_mode("lora").clip.visual.get_nb_trainable_parameters()
    assert d["trainable_params"] == peft_trainable + d["head_params"]
