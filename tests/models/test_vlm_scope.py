"""`lora_scope` on the tiny VLMs: each scope adapts exactly its part, counted as peft counts."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import breastbench.models.vlm  # noqa: F401  (registers vlm/*)
from breastbench.cli import main
from breastbench.errors import UserError
from breastbench.models import registry
from breastbench.models.vlm.lora import ATTENTION, adapter_names

TINY = ["vlm/test-qwen2-vl", "vlm/test-smolvlm"]
SCOPES = ["decoder", "vision", "connector", "all"]
# module-name prefixes of each part, written out here independently of the arch classes
PREFIX = {
    "vlm/test-qwen2-vl": {
        "vision": "visual.blocks.",
        "connector": "visual.merger.",
        "decoder": "language_model.",
    },
    "vlm/test-smolvlm": {
        "vision": "vision_model.",
        "connector": "connector.",
        "decoder": "text_model.",
    },
}
PARTS = {"all": ("vision", "connector", "decoder")}


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def make(name, **kw):
    torch.manual_seed(0)
    return registry.build(name, 2, **kw)


def parts(scope):
    return PARTS.get(scope, (scope,))


def expected_targets(name, scope) -> set[str]:
    """Every linear layer a scope should adapt, found on the bare (unwrapped) model."""
    core = make(name).vlm
    out = set()
    for module_name, module in core.named_modules():
        if not isinstance(module, nn.Linear):
            continue
        for part in parts(scope):
            if not module_name.startswith(PREFIX[name][part]):
                continue
            leaf = module_name.rsplit(".", 1)[-1]
            if part == "decoder" and leaf in ATTENTION:
                out.add(module_name)
            elif part == "vision" and ".attn." in module_name.replace("self_attn", "attn"):
                out.add(module_name)
            elif part == "connector":
                out.add(module_name)
    return out


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("name", TINY)
def test_scope_adapts_exactly_its_part(name, scope):
    model = make(name, lora_scope=scope).set_mode("lora")
    adapted = {n.removeprefix("base_model.model.") for n in adapter_names(model.vlm)}
    assert adapted == expected_targets(name, scope)
    prefixes = tuple(f"vlm.base_model.model.{PREFIX[name][p]}" for p in parts(scope))
    train = {n for n, p in model.named_parameters() if p.requires_grad}
    lora = {n for n in train if "lora_" in n}
    assert lora and all(n.startswith(prefixes) for n in lora)
    assert train - lora == {"head.weight", "head.bias"}  # head stays trainable
    peft_trainable, _ = model.vlm.get_nb_trainable_parameters()
    report = model.trainable_report()
    assert report["trainable_params"] == peft_trainable + report["head_params"]
    assert report["lora_scope"] == scope
    by_part = report["trainable_by_part"]
    assert sum(by_part.values()) == report["trainable_params"]
    assert by_part["head"] == report["head_params"]
    for part in ("vision", "connector", "decoder"):
        assert (by_part[part] > 0) == (part in parts(scope))
    # the head and adapters are what the checkpoint saves
    state = model.checkpoint_state()
    assert {"head.weight", "head.bias"} <= set(state)


@pytest.mark.parametrize("name", TINY)
def test_vision_trainable_follows_scope_and_mode(name):
    assert not make(name).set_mode("linear_probe").vision_trainable
    assert not make(name, lora_scope="decoder").set_mode("lora").vision_trainable
    assert make(name, lora_scope="vision").set_mode("lora").vision_trainable
    assert make(name, lora_scope="connector").set_mode("lora").vision_trainable
    assert make(name).set_mode("finetune").vision_trainable
    with pytest.raises(UserError, match="cannot be cached"):
        make(name, lora_scope="vision").set_mode("lora").frozen_features(torch.zeros(1, 3, 32, 32))


def _vision_after_one_step(name, scope):
    model = make(name, lora_scope=scope).set_mode("lora").eval()
    x = torch.randn(2, *model.data_config["input_size"], generator=torch.Generator().manual_seed(1))
    before = model.encode_vision(x).detach().clone()
    opt = torch.optim.SGD(list(model.trainable_parameters()), lr=1.0)
    loss = model(x).sum() + model.encode_vision(x).pow(2).sum()
    loss.backward()
    opt.step()
    with torch.no_grad():
        after = model.encode_vision(x)
    return before, after


@pytest.mark.parametrize("name", TINY)
def test_vision_lora_changes_vision_tokens_decoder_lora_does_not(name):
    before, after = _vision_after_one_step(name, "vision")
    assert not torch.allclose(before, after)
    before, after = _vision_after_one_step(name, "decoder")
    assert torch.equal(before, after)


@pytest.mark.parametrize("name", TINY)
def test_scope_checkpoint_round_trips(name):
    model = make(name, lora_scope="all").set_mode("lora").eval()
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_()
    x = torch.randn(2, *model.data_config["input_size"])
    other = make(name, lora_scope="all")
    other.load_checkpoint_state(model.checkpoint_state())
    other.eval()
    with torch.no_grad():
        torch.testing.assert_close(other(x), model(x))


def test_bad_scope_is_one_line():
    with pytest.raises(UserError, match="lora_scope 'eyes' invalid"):
        make("vlm/test-smolvlm", lora_scope="eyes")
    with pytest.raises(UserError, match="remove lora_targets or use lora_scope decoder or all"):
        make("vlm/test-smolvlm", lora_scope="vision", lora_targets=["q_proj"])


def test_decoder_targets_apply_to_the_decoder_part_of_all():
    model = make("vlm/test-smolvlm", lora_scope="all", lora_targets=["gate_proj"]).set_mode("lora")
    decoder = {n for n in adapter_names(model.vlm) if ".text_model." in n}
    assert decoder and all(n.endswith(".mlp.gate_proj") for n in decoder)


@pytest.mark.parametrize("scope", SCOPES)
def test_models_info_prints_the_scope_count(capsys, scope):
    argv = ["models", "info", "vlm/test-smolvlm", "--mode", "lora", "--json"]
    assert main([*argv, "--option", f"lora_scope={scope}"]) == 0
    d = json.loads(capsys.readouterr().out)
    model = make("vlm/test-smolvlm", lora_scope=scope).set_mode("lora")
    peft_trainable, _ = model.vlm.get_nb_trainable_parameters()
    assert d["lora_scope"] == scope and d["options"] == {"lora_scope": scope}
    assert d["trainable_params"] == peft_trainable + d["head_params"]
    assert d["trainable_by_part"] == model.trainable_report()["trainable_by_part"]
    assert d["vision_trainable"] == (scope != "decoder")
