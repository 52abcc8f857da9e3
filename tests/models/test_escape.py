"""Escape hatches: timm/, open_clip/ and hf/ names build from the library's own metadata."""

import json
import sys
from pathlib import Path

import pytest
import torch

from breastbench.errors import UserError
from breastbench.models import create, get_info
from breastbench.models.info import model_info

sys.path.insert(0, str(Path(__file__).parent))
from hubcache import put  # noqa: E402


@pytest.fixture
def hf_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    return tmp_path / "hf"


def test_timm_architecture_uses_timm_preprocessing():
    import timm

    model = create("timm/test_vit", 3)
    cfg = timm.models.get_pretrained_cfg("test_vit").to_dict()
    assert model.data_config["input_size"] == tuple(cfg["input_size"])
    assert model.data_config["mean"] == tuple(cfg["mean"])
    ref = timm.create_model("test_vit", num_classes=0)
    assert model.feature_dim == ref.num_features
    x = torch.randn(2, *cfg["input_size"])
    assert model(x).shape == (2, 3)
    assert get_info("timm/test_vit").weights.startswith("hf-hub:timm/")


def test_timm_cnn_works_too():
    model = create("timm/test_resnet", 2)
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1)


def test_timm_hub_repo_reads_its_config_json(hf_home):
    config = {
        "architecture": "vit_small_patch16_224",
        "model_args": {"embed_dim": 32, "depth": 1, "num_heads": 2, "img_size": 32},
        "pretrained_cfg": {
            "input_size": [3, 32, 32],
            "mean": [0.1, 0.2, 0.3],
            "std": [0.4, 0.5, 0.6],
            "interpolation": "bilinear",
        },
    }
    put(hf_home, "acme/tiny-vit", {"config.json": json.dumps(config)})
    model = create("timm/hf-hub:acme/tiny-vit", 2)
    assert model.data_config == {
        "input_size": (3, 32, 32),
        "mean": (0.1, 0.2, 0.3),
        "std": (0.4, 0.5, 0.6),
        "interpolation": "bilinear",
    }
    assert model.feature_dim == 32 and len(model.encoder.blocks) == 1


def test_unknown_timm_name():
    with pytest.raises(UserError, match="timm has no architecture 'not_a_net'"):
        get_info("timm/not_a_net")


def test_open_clip_architecture_is_zero_shot_capable():
    info = get_info("open_clip/ViT-B-32")
    assert "zero_shot" in info.modes and info.family == "clip"
    d = model_info("open_clip/ViT-B-32")
    assert abs(d["total_params"] / 1e6 - 151.3) < 1.0


def test_open_clip_hub_repo(hf_home):
    from breastbench.models.pathology import TINY_OPEN_CLIP

    cfg = {"model_cfg": TINY_OPEN_CLIP, "preprocess_cfg": {"mean": [0.5] * 3, "std": [0.5] * 3}}
    put(hf_home, "acme/tiny-clip", {"open_clip_config.json": json.dumps(cfg)})
    model = create("open_clip/hf-hub:acme/tiny-clip", 2)
    assert model.data_config["mean"] == (0.5, 0.5, 0.5)
    head = model.build_zero_shot_head(["benign", "malignant"], "histology_binary")
    assert head.weight.shape == (1, 16)


def test_hf_vit_repo_with_preprocessor(hf_home):
    from transformers import ViTConfig, ViTModel

    cfg = ViTConfig(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        image_size=32,
        patch_size=16,
    )
    pp = {"image_mean": [0.3] * 3, "image_std": [0.2] * 3, "size": {"height": 32}, "resample": 2}
    put(
        hf_home,
        "acme/tiny-hf-vit",
        {"config.json": cfg.to_json_string(), "preprocessor_config.json": json.dumps(pp)},
    )
    model = create("hf/acme/tiny-hf-vit", 2).eval()
    assert model.data_config["mean"] == (0.3, 0.3, 0.3)
    assert model.data_config["interpolation"] == "bilinear"
    assert model.info.family == "hf"
    ref = ViTModel(cfg, add_pooling_layer=False).eval()
    ref.load_state_dict(model.encoder.state_dict(), strict=False)
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(model.features(x), ref(pixel_values=x).last_hidden_state[:, 0])


def test_hf_local_folder_with_weights(tmp_path):
    from transformers import Dinov2Config, Dinov2Model

    cfg = Dinov2Config(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=32,
        patch_size=16,
    )
    ref = Dinov2Model(cfg).eval()
    ref.save_pretrained(tmp_path / "dino")
    model = create(f"hf/{tmp_path / 'dino'}", 2, weights="pretrained").eval()
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(model.features(x), ref(pixel_values=x).last_hidden_state[:, 0])
    assert model.weights_source == str(tmp_path / "dino")


def test_hf_remote_code_is_refused(tmp_path):
    folder = tmp_path / "remote"
    folder.mkdir()
    cfg = {"model_type": "vit", "auto_map": {"AutoModel": "modeling_x.XModel"}}
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(UserError, match="never sets trust_remote_code"):
        get_info(f"hf/{folder}")
