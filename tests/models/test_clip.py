"""CLIP family: zero-shot head against a hand computation, prompt files, local weights."""

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from breastbench.errors import UserError
from breastbench.models import create
from breastbench.models.prompts import list_prompt_sets, load_prompts

NAME = "clip/test-biomedclip"
# class keys as the data layer names them (data/sources/breakhis.py, bach.py; density A-D)
EXPECTED_CLASSES = {
    "density": ["A", "B", "C", "D"],
    "density_birads": ["A", "B", "C", "D"],
    "density_views": ["A", "B", "C", "D"],
    "histology_binary": ["benign", "malignant"],
    "histology_subtype": ["A", "F", "PT", "TA", "DC", "LC", "MC", "PC"],
    "bach": ["Normal", "Benign", "InSitu", "Invasive"],
}


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))


@pytest.fixture(scope="module")
def images():
    return torch.randn(3, 3, 64, 64, generator=torch.Generator().manual_seed(0))


def _hand_text_matrix(model, prompt_set, classes, magnification=None):
    """Prompt ensemble computed directly with open_clip's encode_text."""
    ps = load_prompts(prompt_set)
    rows = []
    for c in classes:
        tokens = model.tokenizer(ps.prompts(c, magnification))
        emb = model.clip.encode_text(tokens)
        emb = emb / emb.norm(dim=-1, keepdim=True)
        mean = emb.mean(0)
        rows.append(mean / mean.norm())
    return torch.stack(rows)


def test_zero_shot_head_reproduces_clip_logits(images):
    torch.manual_seed(0)
    model = create(NAME, 4).eval()
    classes = EXPECTED_CLASSES["density"]
    model.build_zero_shot_head(classes, "density")
    model.set_mode("zero_shot")
    with torch.no_grad():
        text = _hand_text_matrix(model, "density", classes)
        scale = model.clip.logit_scale.exp()
        torch.testing.assert_close(model.head.weight, scale * text)
        assert torch.equal(model.head.bias, torch.zeros(4))
        img = F.normalize(model.clip.encode_image(images), dim=-1)
        torch.testing.assert_close(model(images), scale * img @ text.T)
    assert model.classes == classes
    assert model.trainable_report()["trainable_params"] == 0


def test_binary_head_sigmoid_equals_two_class_softmax(images):
    torch.manual_seed(1)
    model = create(NAME, 2).eval()
    model.build_zero_shot_head(["benign", "malignant"], "histology_binary", magnification=200)
    with torch.no_grad():
        text = _hand_text_matrix(model, "histology_binary", ["benign", "malignant"], 200)
        img = F.normalize(model.clip.encode_image(images), dim=-1)
        clip_logits = model.clip.logit_scale.exp() * img @ text.T
        expected = clip_logits.softmax(-1)[:, 1]
        torch.testing.assert_close(torch.sigmoid(model(images))[:, 0], expected)


def test_magnification_prompts_and_errors():
    ps = load_prompts("histology_binary")
    plain, mag = ps.prompts("malignant"), ps.prompts("malignant", magnification=400)
    assert len(plain) == len(ps.templates) * len(ps.classes["malignant"])
    assert all("400x" in p for p in mag) and not any("x magnification" in p for p in plain)
    with pytest.raises(UserError, match=r"density.yaml has no `magnification_templates`"):
        load_prompts("density").prompts("A", magnification=40)
    with pytest.raises(UserError, match=r"class 'X' has no descriptions in prompt file .*bach"):
        load_prompts("bach").prompts("X")
    assert ps.resolve("M") == "malignant" and ps.resolve("BENIGN") == "benign"
    assert load_prompts("histology_subtype").resolve("ductal_carcinoma") == "DC"


def test_every_shipped_prompt_file_parses():
    assert set(list_prompt_sets()) == set(EXPECTED_CLASSES)
    for name, classes in EXPECTED_CLASSES.items():
        ps = load_prompts(name)
        assert list(ps.classes) == classes
        for c in classes:
            prompts = ps.prompts(c)
            assert len(prompts) == len(set(prompts)) >= 4
        if not name.startswith("density"):  # mammograms have no magnification
            assert ps.prompts(classes[0], magnification=100)


def test_invalid_prompt_file_names_itself(tmp_path):
    bad = tmp_path / "mine.yaml"
    bad.write_text("classes: {a: [x]}\ntemplates: ['no placeholder']\n")
    with pytest.raises(UserError, match=r"prompt file .*mine.yaml: template 'no placeholder'"):
        load_prompts(bad)
    with pytest.raises(UserError, match="prompt set 'nope' not found; use one of bach, density"):
        load_prompts("nope")


def test_wrong_class_count_and_mode_rules():
    model = create(NAME, 3)
    with pytest.raises(UserError, match="got 2 classes but the model was created with"):
        model.build_zero_shot_head(["benign", "malignant"], "histology_binary")
    model.set_mode("finetune")
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("clip.visual.", "head.")) for n in trainable)
    with pytest.raises(UserError, match="fixed input size of 64"):
        create(NAME, 2, input_size=336)


def test_linear_probe_can_start_from_text_head(images):
    model = create(NAME, 4).eval()
    head = model.build_zero_shot_head(EXPECTED_CLASSES["bach"], "bach")
    zero_shot = model(images).detach()
    model.set_mode("linear_probe")
    assert head.weight.requires_grad and model(images).detach().equal(zero_shot)


def test_tokenizer_is_deterministic_bert_style():
    model = create(NAME, 2)
    ids = model.tokenizer(["Ductal carcinoma, 40x."])
    assert ids.shape == (1, 64) and ids[0, 0] == 2 and ids[0, -1] == 0
    assert torch.equal(ids, create(NAME, 2).tokenizer(["ductal carcinoma, 40x."]))


def test_local_open_clip_folder(tmp_path, images):
    torch.manual_seed(2)
    src = create(NAME, 2).eval()
    save_file(
        {k: v.contiguous() for k, v in src.clip.state_dict().items()},
        str(tmp_path / "open_clip_model.safetensors"),
    )
    model = create(NAME, 2, weights=str(tmp_path)).eval()
    assert model.weights_source.endswith("open_clip_model.safetensors")
    torch.testing.assert_close(model.features(images), src.features(images))
