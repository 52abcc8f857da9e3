"""Generative VLM classifiers: tiny random Qwen2-VL and Idefics3/SmolVLM, no downloads."""

from __future__ import annotations

import pytest
import torch

import breastbench.models.vlm  # noqa: F401  (registers vlm/*)
from breastbench.errors import UserError
from breastbench.models import registry
from breastbench.models.vlm.prompt import pool_last

TINY = ["vlm/test-qwen2-vl", "vlm/test-smolvlm"]
DECODER = {"vlm/test-qwen2-vl": "language_model", "vlm/test-smolvlm": "text_model"}
VISION = {"vlm/test-qwen2-vl": ("visual",), "vlm/test-smolvlm": ("vision_model", "connector")}


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def make(name, num_classes=2, seed=0, **kw):
    torch.manual_seed(seed)
    return registry.build(name, num_classes, **kw)


def images(model, batch=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, *model.data_config["input_size"], generator=g)


def perturb_adapters(model, seed=2):
    """LoRA B starts at zero (a no-op); give it values so adapters change the output."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)


def trainable(model):
    return {n for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("name", TINY)
def test_shapes(name):
    model = make(name, num_classes=3).set_mode("linear_probe").eval()
    x = images(model)
    hidden = model.core.config.text_config.hidden_size
    assert model.features(x).shape == (3, hidden) == (3, model.feature_dim)
    assert model(x).shape == (3, 3)
    assert model.num_image_tokens == 16
    assert model.data_config["input_size"] == (3, 32, 32)


@pytest.mark.parametrize("name", TINY)
@pytest.mark.parametrize("mode", ["linear_probe", "lora"])
def test_forward_backward_touches_only_trainable(name, mode):
    model = make(name).set_mode(mode).train()
    x, y = images(model), torch.tensor([0.0, 1.0, 1.0])
    loss = torch.nn.functional.binary_cross_entropy_with_logits(model(x).squeeze(1), y)
    loss.backward()
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None}
    assert with_grad == trainable(model)
    assert model.head.weight.grad.abs().sum() > 0
    if mode == "lora":
        b_grads = [p.grad for n, p in model.named_parameters() if "lora_B" in n]
        assert b_grads and all(g.abs().sum() > 0 for g in b_grads)


@pytest.mark.parametrize("name", TINY)
def test_trainable_sets_per_mode(name):
    assert trainable(make(name).set_mode("linear_probe")) == {"head.weight", "head.bias"}
    full = make(name).set_mode("finetune")
    assert trainable(full) == {n for n, _ in full.named_parameters()}
    lora = make(name).set_mode("lora")
    names = trainable(lora) - {"head.weight", "head.bias"}
    assert names and all("lora_" in n and f".{DECODER[name]}." in n for n in names)
    zero = make(name).set_mode("zero_shot")  # generative: nothing trains, the LM head reads
    assert not trainable(zero) and "lm_head" in dict(zero.named_children())
    assert "lm_head" not in dict(make(name).set_mode("linear_probe").named_children())
    with pytest.raises(UserError, match="already carries LoRA"):
        lora.set_mode("linear_probe")


@pytest.mark.parametrize("name", TINY)
@pytest.mark.parametrize("targets", [None, ("q_proj", "v_proj", "up_proj")])
def test_lora_adapts_decoder_modules_only(name, targets):
    model = make(name, lora_targets=targets).set_mode("lora")
    from breastbench.models.vlm.lora import adapter_names

    adapted = adapter_names(model.vlm)
    layers = model.core.config.text_config.num_hidden_layers
    wanted = targets or ("q_proj", "k_proj", "v_proj", "o_proj")
    assert len(adapted) == layers * len(wanted)
    prefix = f"base_model.model.{DECODER[name]}.layers."
    assert all(n.startswith(prefix) and n.rsplit(".", 1)[1] in wanted for n in adapted)
    # the vision side has same-named projections (SigLIP q/k/v_proj) and must stay untouched
    vision = [n for n, _ in model.core.named_modules() if n.startswith(VISION[name])]
    assert vision and not any(n.endswith(".lora_A") for n in vision)


@pytest.mark.parametrize("name", TINY)
def test_report_matches_peft_count(name):
    model = make(name).set_mode("lora")
    report = model.trainable_report()
    peft_trainable, peft_total = model.vlm.get_nb_trainable_parameters()
    assert report["lora_params"] == report["peft_trainable_params"] == peft_trainable
    assert report["trainable_params"] == peft_trainable + report["head_params"]
    assert report["total_params"] == peft_total + report["head_params"]


@pytest.mark.parametrize("name", TINY)
def test_cached_vision_equals_uncached_and_transformers(name):
    model = make(name).set_mode("lora").eval()
    perturb_adapters(model)
    x = images(model)
    texts = ["Magnification: 200x", None, "40x"]
    with torch.no_grad():
        direct = model(x, texts)
        cached = model.forward_from_vision(model.encode_vision(x), texts)
        frozen = model.forward_from_frozen(model.frozen_features(x))
        plain = model(x)
    torch.testing.assert_close(cached, direct, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(frozen, plain, rtol=1e-5, atol=1e-5)
    # transformers' own end-to-end forward (pixel inputs, its merging and M-RoPE) agrees
    ref = model.reference_features(x)
    torch.testing.assert_close(model.features(x).detach(), ref, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(direct, plain)  # the text context reaches the decoder


@pytest.mark.parametrize("name", TINY)
def test_pooling_left_and_right_padding_agree(name):
    model = make(name).set_mode("lora").eval()
    perturb_adapters(model)
    x = images(model, batch=3)
    texts = ["a much longer magnification context", None, "200x"]
    with torch.no_grad():
        right = model.features(x, texts)
        model.prompts.side = "left"
        left = model.features(x, texts)
        alone = torch.cat([model.features(x[i : i + 1], texts[i : i + 1]) for i in range(3)])
    ids, mask = model.prompts.batch(texts)
    assert (mask == 0).any()  # the batch really is padded
    torch.testing.assert_close(left, right, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(left, alone, rtol=1e-4, atol=1e-5)


def test_pool_last_picks_last_real_token():
    hidden = torch.arange(2 * 4, dtype=torch.float32).reshape(2, 4, 1)
    right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    left = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    assert pool_last(hidden, right).flatten().tolist() == [1.0, 7.0]
    assert pool_last(hidden, left).flatten().tolist() == [3.0, 7.0]


@pytest.mark.parametrize("name", TINY)
@pytest.mark.parametrize("mode", ["linear_probe", "lora", "finetune"])
def test_random_backbone_checkpoint_is_full_and_round_trips(name, mode):
    model = make(name).set_mode(mode).eval()
    if mode == "lora":
        perturb_adapters(model)
    state = model.checkpoint_state()
    assert model.checkpoint_is_full()  # a random backbone cannot be rebuilt from its source
    assert set(state) == set(model.state_dict())
    fresh = make(name, seed=123).eval()  # other random weights: everything must come back
    fresh.set_mode(mode)
    fresh.load_checkpoint_state(state)
    x = images(model)
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), model(x))


@pytest.mark.parametrize("name", TINY)
def test_input_errors_are_one_line(name):
    model = make(name)
    with pytest.raises(UserError, match="expects images of shape"):
        model.features(torch.zeros(1, 3, 24, 24))
    with pytest.raises(UserError, match="2 text contexts for a batch of 3"):
        model.features(images(model), ["a", "b"])
    with pytest.raises(UserError, match="multiple of 8"):
        make(name, input_size=36)
    with pytest.raises(UserError, match="lora_r"):
        make(name, lora_r=0)
    with pytest.raises(UserError, match="without pretrained weights"):
        make(name, weights="pretrained")
    # a uniform mid-grey tile normalises to all zeros; it must still count as an image
    assert torch.isfinite(model.features(torch.zeros(2, 3, 32, 32))).all()


SCOPE_PREFIX = {
    "vlm/test-qwen2-vl": {
        "decoder": ("language_model.layers.",),
        "vision": ("visual.blocks.",),
        "connector": ("visual.merger.",),
    },
    "vlm/test-smolvlm": {
        "decoder": ("text_model.layers.",),
        "vision": ("vision_model.encoder.layers.",),
        "connector": ("connector.",),
    },
}
SCOPE_SUFFIX = {  # the modules each scope must adapt (Linear layers named by the scope)
    "vlm/test-qwen2-vl": {
        "decoder": ("q_proj", "k_proj", "v_proj", "o_proj"),
        "vision": ("attn.qkv", "attn.proj"),
        "connector": ("mlp.0", "mlp.2"),
    },
    "vlm/test-smolvlm": {
        "decoder": ("q_proj", "k_proj", "v_proj", "o_proj"),
        "vision": ("q_proj", "k_proj", "v_proj", "out_proj"),
        "connector": ("modality_projection.proj",),
    },
}


@pytest.mark.parametrize("name", TINY)
def test_per_sample_texts_differ_and_pool_per_row(name):
    model = make(name).set_mode("lora").eval()
    perturb_adapters(model)
    x = images(model, batch=2)
    x = torch.cat([x[:1], x[:1]])  # same image twice: only the text differs
    with torch.no_grad():
        two = model.features(x, ["View: CC, laterality: L", "Magnification: 40x"])
        same = model.features(x, ["Magnification: 40x", "Magnification: 40x"])
    assert not torch.allclose(two[0], two[1])
    torch.testing.assert_close(two[1], same[1], rtol=1e-4, atol=1e-5)
