"""CNN family and the shared interface over the tiny variants; weights resolution offline."""

import pytest
import torch
from safetensors.torch import save_file

from breastbench.errors import MissingWeightsError, UserError
from breastbench.models import create

TINY = ["cnn/test-resnet", "clip/test-biomedclip"]


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


def _images(model, n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, *model.data_config["input_size"], generator=g)


@pytest.mark.parametrize("name", TINY)
@pytest.mark.parametrize("num_classes", [2, 4])
def test_forward_backward_and_shapes(name, num_classes):
    torch.manual_seed(0)
    model = create(name, num_classes).set_mode("finetune")
    x = _images(model)
    feats = model.features(x)
    assert feats.shape == (2, model.feature_dim)
    logits = model(x)
    assert logits.shape == (2, 1 if num_classes == 2 else num_classes)
    logits.sum().backward()
    grads = [p.grad for p in model.trainable_parameters()]
    assert all(g is not None for g in grads) and any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name", TINY)
def test_trainable_set_per_mode(name):
    model = create(name, 3)
    model.set_mode("linear_probe")
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {
        "head.weight",
        "head.bias",
    }
    assert model.backbone_frozen()
    model.set_mode("finetune")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert "head.weight" in trainable and len(trainable) > 2
    assert not model.backbone_frozen()
    rep = model.trainable_report()
    assert rep["trainable_params"] == sum(p.numel() for p in model.trainable_parameters())
    assert rep["head_params"] == 3 * model.feature_dim + 3


def test_cnn_cannot_zero_shot():
    model = create("cnn/test-resnet", 2)
    with pytest.raises(
        UserError, match="cannot run mode 'zero_shot'.*linear_probe, finetune, lora"
    ):
        model.set_mode("zero_shot")
    with pytest.raises(UserError, match="unknown mode 'probe'"):
        model.set_mode("probe")


def test_input_size_and_cam_layer():
    model = create("cnn/test-resnet", 2, input_size=96)
    assert model.data_config["input_size"] == (3, 96, 96)
    assert model.data_config["interpolation"] == "bilinear"
    assert model.cam_target_layer() is model.trunk.layer4
    assert model(torch.randn(1, 3, 96, 96)).shape == (1, 1)


@pytest.mark.parametrize(
    "name, dim",
    [("cnn/alexnet", 4096), ("cnn/vgg19", 4096), ("cnn/resnet34", 512), ("cnn/convnext_tiny", 768)],
)
def test_real_cnn_feature_dims_on_meta(name, dim):
    with torch.device("meta"):
        model = create(name, 3, input_size=336)
        assert model.features(torch.empty(1, 3, 336, 336)).shape == (1, dim)
    assert model.head.in_features == dim


def test_alexnet_trunk_matches_torchvision():
    from torchvision.models import alexnet

    torch.manual_seed(0)
    ref = alexnet(weights=None).eval()
    model = create("cnn/alexnet", 2).eval()
    sd = {k: v for k, v in ref.state_dict().items() if not k.startswith("classifier.6.")}
    model.trunk.load_state_dict(sd)
    x = torch.randn(1, 3, 64, 64)
    fc7 = torch.nn.Sequential(*list(ref.classifier)[:-1])
    expected = fc7(torch.flatten(ref.avgpool(ref.features(x)), 1))
    torch.testing.assert_close(model.features(x), expected)


def test_local_weights_folder_and_file(tmp_path):
    torch.manual_seed(1)
    src = create("cnn/test-resnet", 2).eval()
    folder = tmp_path / "w"
    folder.mkdir()
    save_file(
        {k: v.contiguous() for k, v in src.trunk.state_dict().items()},
        str(folder / "model.safetensors"),
    )
    x = _images(src)
    for weights in (folder, folder / "model.safetensors"):
        model = create("cnn/test-resnet", 2, weights=str(weights)).eval()
        assert model.weights_source == str(folder / "model.safetensors")
        torch.testing.assert_close(model.features(x), src.features(x))


def test_bad_local_weights_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        create("cnn/test-resnet", 2, weights=str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no weights file"):
        create("cnn/test-resnet", 2, weights=str(tmp_path / "empty"))
    save_file({"x": torch.zeros(3)}, str(tmp_path / "bad.safetensors"))
    with pytest.raises(UserError, match="do not fit model 'cnn/test-resnet'"):
        create("cnn/test-resnet", 2, weights=str(tmp_path / "bad.safetensors"))
    with pytest.raises(UserError, match="no pretrained weights"):
        create("cnn/test-resnet", 2, weights="pretrained")


@pytest.mark.parametrize(
    "name, source",
    [
        ("cnn/resnet34", "HF Hub 'timm/resnet34.a1_in1k'"),
        ("cnn/convnext_base", "HF Hub 'timm/convnext_base.fb_in22k_ft_in1k'"),
        ("cnn/alexnet", "https://download.pytorch.org/models/alexnet"),
        ("clip/biomedclip", "HF Hub 'microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224'"),
        ("clip/openai-vit-b-16", "HF Hub 'timm/vit_base_patch16_clip_224.openai'"),
    ],
)
def test_missing_weights_offline_is_one_line(name, source):
    with pytest.raises(MissingWeightsError) as err:
        create(name, 2, weights="pretrained")
    msg = str(err.value)
    assert "\n" not in msg and f"'{name}'" in msg and source in msg
    assert "weights: /path/to/folder" in msg and "--weights" in msg


def test_network_failure_becomes_missing_weights(monkeypatch):
    import huggingface_hub

    def no_network(*args, **kwargs):
        raise ConnectionError("Max retries exceeded with url")

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_network)
    with pytest.raises(MissingWeightsError, match="ConnectionError: Max retries exceeded"):
        create("cnn/resnet34", 2, weights="pretrained")
