"""save_checkpoint -> load_checkpoint gives identical outputs; only what is needed is stored."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from breastbench.errors import UserError
from breastbench.models import create, load_checkpoint, save_checkpoint

CASES = [
    ("cnn/test-resnet", "linear_probe"),
    ("cnn/test-resnet", "finetune"),
    ("clip/test-biomedclip", "zero_shot"),
    ("clip/test-biomedclip", "linear_probe"),
    ("clip/test-biomedclip", "finetune"),
]


def _train_step(model, x):
    params = list(model.trainable_parameters())
    if params:  # change the weights so the round trip checks real state, not the init
        opt = torch.optim.SGD(params, lr=0.1)
        model.train()
        model(x).pow(2).mean().backward()
        opt.step()
    return model.eval()


@pytest.mark.parametrize("name, mode", CASES)
def test_round_trip_identical_outputs(tmp_path, name, mode):
    torch.manual_seed(0)
    model = create(name, 3).set_mode(mode)
    x = torch.randn(2, *model.data_config["input_size"])
    if mode == "zero_shot":
        model.build_zero_shot_head(["Normal", "Benign", "Invasive"], "bach")
    _train_step(model, x)
    save_checkpoint(model, tmp_path / "ckpt", classes=["a", "b", "c"])
    meta = json.loads((tmp_path / "ckpt" / "meta.json").read_text())
    assert meta["name"] == name and meta["mode"] == mode and meta["num_classes"] == 3
    assert meta["classes"] == ["a", "b", "c"] and meta["weights_source"] == "random"
    assert meta["data_config"]["input_size"] == list(model.data_config["input_size"])
    assert meta["state"] == "full"  # random backbones cannot be rebuilt, so they are saved
    loaded = load_checkpoint(tmp_path / "ckpt")
    assert loaded.mode == mode and loaded.classes == ["a", "b", "c"]
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


@pytest.mark.parametrize(
    "name, file",
    [
        ("cnn/test-resnet", "model.safetensors"),
        ("clip/test-biomedclip", "open_clip_model.safetensors"),
    ],
)
def test_frozen_backbone_from_file_saves_only_the_head(tmp_path, name, file):
    torch.manual_seed(3)
    base = create(name, 2)
    backbone = base.trunk if name.startswith("cnn") else base.clip
    save_file({k: v.contiguous() for k, v in backbone.state_dict().items()}, str(tmp_path / file))
    model = create(name, 2, weights=str(tmp_path)).set_mode("linear_probe")
    x = torch.randn(2, *model.data_config["input_size"])
    _train_step(model, x)
    save_checkpoint(model, tmp_path / "ckpt")
    assert set(load_file(str(tmp_path / "ckpt" / "model.safetensors"))) == {
        "head.weight",
        "head.bias",
    }
    meta = json.loads((tmp_path / "ckpt" / "meta.json").read_text())
    assert meta["state"] == "partial" and meta["weights"] == str(tmp_path)
    loaded = load_checkpoint(tmp_path / "ckpt")
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))


def test_build_kwargs_are_recorded(tmp_path):
    model = create("cnn/test-resnet", 4, input_size=96).set_mode("finetune")
    save_checkpoint(model, tmp_path)
    loaded = load_checkpoint(tmp_path)
    assert loaded.data_config["input_size"] == (3, 96, 96) and loaded.num_outputs == 4


def test_not_a_checkpoint(tmp_path):
    with pytest.raises(UserError, match="is not a breastbench checkpoint"):
        load_checkpoint(tmp_path)
