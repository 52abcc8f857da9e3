"""`models info NAME --mode MODE --option KEY=VALUE`: the options a config entry takes."""

import json

import pytest
import yaml

from breastbench.cli import main
from breastbench.errors import UserError
from breastbench.models.cli import parse_options


def test_values_are_yaml_scalars_as_in_a_config():
    items = ["lora_r=8", "lora_scope=vision", "flag=true", "drop=0.05", "none=null", "empty="]
    got = parse_options(items)
    assert got == {
        "lora_r": 8,
        "lora_scope": "vision",
        "flag": True,
        "drop": 0.05,
        "none": None,
        "empty": None,
    }
    config = yaml.safe_load("options: {lora_r: 8, lora_scope: vision, flag: true, drop: 0.05}")
    assert {k: got[k] for k in config["options"]} == config["options"]


@pytest.mark.parametrize("bad", ["lora_r", "=3"])
def test_malformed_option(bad):
    with pytest.raises(UserError, match="expected KEY=VALUE"):
        parse_options([bad])


def _info(capsys, *argv):
    assert main(["models", "info", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_lora_rank_changes_trainable_count(capsys):
    r4 = _info(capsys, "vlm/test-smolvlm", "--mode", "lora", "--option", "lora_r=4")
    r8 = _info(capsys, "vlm/test-smolvlm", "--mode", "lora", "--option", "lora_r=8")
    assert r8["options"] == {"lora_r": 8}
    # LoRA adds r * (in + out) per adapted matrix: twice the rank, twice the adapter
    assert r8["trainable_params"] - r8["head_params"] == 2 * (
        r4["trainable_params"] - r4["head_params"]
    )
    assert r4["total_params"] < r8["total_params"]


def test_input_size_option_reaches_the_model(capsys):
    d = _info(capsys, "vit/test-uni", "--option", "input_size=64")
    assert d["input_size"] == [3, 64, 64]


def test_unknown_option_is_one_line(capsys):
    assert main(["models", "info", "cnn/test-resnet", "--option", "colour=red"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "colour" in err and "\n" not in err
