"""Registry, create() options, data_config sources and meta-device parameter counts."""

import pytest

from breastbench.errors import UserError
from breastbench.models import MODES, create, get_info, list_models
from breastbench.models.info import model_info

OWNED = [
    "cnn/resnet34",
    "cnn/vgg19",
    "cnn/convnext_tiny",
    "cnn/convnext_small",
    "cnn/convnext_base",
    "cnn/alexnet",
    "cnn/test-resnet",
    "clip/biomedclip",
    "clip/openai-vit-b-16",
    "clip/test-biomedclip",
]


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


def test_every_family_registered():
    names = list_models()
    assert set(OWNED) <= set(names)
    assert set(list_models("cnn")) >= {n for n in OWNED if n.startswith("cnn/")}
    assert all(get_info(n).family == "clip" for n in list_models("clip"))
    assert MODES == ("zero_shot", "linear_probe", "finetune", "lora")


def test_unknown_name_suggests_close_match():
    with pytest.raises(UserError, match=r"unknown model 'cnn/resnet35'.*cnn/resnet34"):
        create("cnn/resnet35", 2)


def test_unknown_option_is_a_user_error():
    with pytest.raises(UserError, match=r"does not take option\(s\) colour; accepted: input_size"):
        create("cnn/test-resnet", 2, colour="red")


def test_none_options_are_dropped():
    model = create("cnn/test-resnet", 2, input_size=None)
    assert model.data_config["input_size"] == (3, 64, 64)
    assert model.build_kwargs == {}


def test_openai_normalisation_matches_open_clip():
    import open_clip

    cfg = open_clip.get_pretrained_cfg("ViT-B-16", "openai")
    info = get_info("clip/openai-vit-b-16")
    assert info.mean == pytest.approx(cfg["mean"]) and info.std == pytest.approx(cfg["std"])


@pytest.mark.parametrize(
    "name, total_m, trainable_m",
    [
        ("cnn/resnet34", 21.80, 0.513),  # timm/torchvision: 21.8M with the 1000-class head
        ("cnn/vgg19", 143.67, 4.097),  # torchvision: 143.7M
        ("cnn/alexnet", 61.10, 4.097),  # torchvision: 61.1M
        ("cnn/convnext_tiny", 28.59, 0.769),  # timm: 28.6M
        ("clip/biomedclip", 195.90, 0.0),  # ViT-B/16 (86M) + PubMedBERT (109M) + projections
        ("clip/openai-vit-b-16", 149.62, 0.0),  # open_clip ViT-B-16: 149.6M
    ],
)
def test_meta_parameter_counts_of_real_architectures(name, total_m, trainable_m):
    d = model_info(name)
    assert d["total_params"] / 1e6 == pytest.approx(total_m, abs=0.01)
    assert d["trainable_params"] / 1e6 == pytest.approx(trainable_m, abs=0.001)


def test_finetune_counts_everything_but_the_clip_text_tower():
    assert model_info("cnn/resnet34", "finetune")["trainable_params"] == 21_797_672
    d = model_info("clip/biomedclip", "finetune", num_classes=4)
    # image tower (ViT-B/16 trunk + 768->512 projection) + 4-class head on the 512-D embedding
    assert d["trainable_params"] == 85_798_656 + 768 * 512 + 4 * 512 + 4
