"""Pathology foundation models: published sizes on the meta device, tiny twins, CLI listing."""

import json

import pytest
import torch

from breastbench.cli import main
from breastbench.models import create, get_info, list_models
from breastbench.models.info import model_info

PUBLISHED = {  # millions of parameters, from each model page / paper
    "vit/uni": 303,
    "vit/uni2-h": 681,
    "vit/virchow2": 632,
    "vit/h-optimus-0": 1130,
    "vit/prov-gigapath": 1134,
    "vit/phikon": 86,
    "vit/phikon-v2": 303,
    "clip/plip": 151,
    "clip/quiltnet-b-32": 151,
}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_size_on_meta_device(name, capsys):
    assert main(["models", "info", name, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert abs(d["total_params"] / 1e6 - PUBLISHED[name]) / PUBLISHED[name] < 0.02
    assert d["published_params_m"] == pytest.approx(PUBLISHED[name], rel=0.02)
    assert d["licence"] != "unknown"
    twin = name.replace("/", "/test-").replace("quiltnet-b-32", "quiltnet")
    assert get_info(twin).test_variant


def test_list_shows_every_entry(capsys):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    for name in PUBLISHED:
        assert name in out


def test_gating_and_preprocessing_are_recorded():
    assert get_info("vit/uni").gated and get_info("vit/virchow2").gated
    assert not get_info("vit/phikon").gated
    hopt = get_info("vit/h-optimus-0")
    assert hopt.mean == (0.707223, 0.578729, 0.703617)
    assert get_info("vit/uni").extra["interpolation"] == "bilinear"
    d = model_info("clip/plip")
    assert d["mean"] == pytest.approx([0.48145466, 0.4578275, 0.40821073])


def test_tiny_twins_keep_the_layer_types():
    from timm.layers import GluMlp

    model = create("vit/test-virchow2", 3)
    assert isinstance(model.encoder.blocks[0].mlp, GluMlp)  # SwiGLUPacked = packed GluMlp
    assert isinstance(model.encoder.blocks[0].mlp.act, torch.nn.SiLU)
    assert model.encoder.num_prefix_tokens == 5  # class + 4 registers, as Virchow2
    x = torch.randn(2, 3, 32, 32)
    tokens = model.encoder.forward_features(x)
    ref = torch.cat([tokens[:, 0], tokens[:, 5:].mean(1)], -1)
    assert torch.allclose(model.features(x), ref)
    assert model.feature_dim == 64
    assert create("vit/test-uni2-h", 2).encoder.num_prefix_tokens == 9


@pytest.mark.parametrize("name", [n for n in list_models() if "/test-" in n and "cnn" not in n])
def test_tiny_twins_forward(name):
    if get_info(name).family not in ("vit", "clip"):
        pytest.skip("other families are tested elsewhere")
    model = create(name, 3)
    size = model.data_config["input_size"]
    logits = model(torch.randn(2, *size))
    assert logits.shape == (2, 3)


def test_phikon_features_are_the_class_token():
    model = create("vit/test-phikon", 2).eval()
    x = torch.randn(2, 3, 32, 32)
    ref = model.encoder(pixel_values=x).last_hidden_state[:, 0]
    assert torch.allclose(model.features(x), ref)
    assert model.encoder.pooler is None
