"""Parameter-matched CNNs: ``finetune_stages`` (last N stages + head) and peft Conv2d LoRA."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from breastbench.cli import main
from breastbench.errors import UserError
from breastbench.models import create

NAME = "cnn/test-resnet"
STAGES = ["layer1", "layer2", "layer3", "layer4"]


def make(**kw):
    torch.manual_seed(0)
    return create(NAME, 3, **kw)


def trainable(model):
    return {n for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("n", [1, 2, 4])
def test_finetune_last_n_stages_matches_a_direct_count(n):
    model = make(finetune_stages=n).set_mode("finetune")
    kept = STAGES[-n:]
    direct = sum(p.numel() for s in kept for p in getattr(model.trunk, s).parameters())
    head = sum(p.numel() for p in model.head.parameters())
    report = model.trainable_report()
    assert report["trainable_params"] == direct + head
    assert report["finetune_stages"] == n
    names = trainable(model) - {"head.weight", "head.bias"}
    assert names and all(nm.split(".")[1] in kept for nm in names)
    assert report["trainable_by_part"]["stem"] == 0
    assert report["trainable_by_part"][f"stage{4 - n + 1}"] > 0


def test_frozen_stages_keep_batchnorm_statistics():
    model = make(finetune_stages=1).set_mode("finetune").train()
    frozen_bn = model.trunk.layer1[0].bn1
    trained_bn = model.trunk.layer4[0].bn1
    before = frozen_bn.running_mean.clone()
    model(torch.randn(4, 3, 64, 64))
    assert not frozen_bn.training and trained_bn.training
    assert torch.equal(frozen_bn.running_mean, before)


def test_finetune_stages_out_of_range_is_one_line():
    with pytest.raises(UserError, match=r"finetune_stages for 'cnn/test-resnet' must be .* 1\.\.4"):
        make(finetune_stages=5)


def test_lora_adapts_every_plain_conv_and_counts_as_peft():
    from peft.tuners.lora import LoraLayer

    bare = make()
    convs = {n for n, m in bare.trunk.named_modules() if isinstance(m, nn.Conv2d | nn.Linear)}
    model = make().set_mode("lora")
    adapted = {
        n.removeprefix("base_model.model.")
        for n, m in model.trunk.named_modules()
        if isinstance(m, LoraLayer)
    }
    assert adapted == convs
    names = trainable(model) - {"head.weight", "head.bias"}
    assert names and all("lora_" in n for n in names)
    peft_trainable, _ = model.trunk.get_nb_trainable_parameters()
    report = model.trainable_report()
    assert report["trainable_params"] == peft_trainable + report["head_params"]
    assert report["peft_trainable_params"] == peft_trainable
    # a rank-r adapter on a conv k x k, in -> out adds r * (in * k * k + out) parameters
    conv = bare.trunk.layer1[0].conv1
    k = conv.kernel_size[0]
    layer = model.trunk.base_model.model.layer1[0].conv1
    own = sum(p.numel() for n, p in layer.named_parameters() if "lora_" in n)
    assert own == 16 * (conv.in_channels * k * k + conv.out_channels)


def test_lora_trains_and_round_trips_through_checkpoint():
    model = make(lora_r=4).set_mode("lora")
    x = torch.randn(2, 3, 64, 64)
    opt = torch.optim.SGD(list(model.trainable_parameters()), lr=0.5)
    model.train()
    model(x).sum().backward()
    opt.step()
    model.eval()
    state = model.checkpoint_state()
    other = make(lora_r=4)
    other.load_checkpoint_state(state)
    other.eval()
    with torch.no_grad():
        torch.testing.assert_close(other(x), model(x))
    assert other.cam_target_layer() is other.trunk.base_model.model.layer4


def test_models_info_counts_cnn_lora_and_stages(capsys):
    assert main(["models", "info", NAME, "--mode", "lora", "--option", "lora_r=4", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    model = create(NAME, 1000, lora_r=4).set_mode("lora")  # info counts the ImageNet head
    peft_trainable, _ = model.trunk.get_nb_trainable_parameters()
    assert d["trainable_params"] == peft_trainable + d["head_params"]
    argv = ["models", "info", NAME, "--mode", "finetune", "--option", "finetune_stages=1"]
    assert main([*argv, "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    trunk = create(NAME, 1000).trunk
    assert (
        d["trainable_params"]
        == sum(p.numel() for p in trunk.layer4.parameters()) + d["head_params"]
    )
