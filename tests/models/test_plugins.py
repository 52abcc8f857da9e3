"""Own model in one file: plugin files, entry points, interface errors in one line."""

from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
import torch

from breastbench.cli import main
from breastbench.errors import UserError
from breastbench.models import create, get_info

PLUGINS = Path(__file__).parent / "plugins"
TINY = f"plugin:{PLUGINS / 'tiny_plugin.py'}:build"
BROKEN = f"plugin:{PLUGINS / 'broken_plugin.py'}:build"


def test_plugin_file_builds_a_breastbench_model():
    model = create(TINY, 3, width=6)
    assert get_info(TINY).family == "plugin" and get_info(TINY).licence == "mit"
    assert model.feature_dim == 6 and model.data_config["interpolation"] == "bicubic"
    model.set_mode("linear_probe")
    x = torch.randn(2, 3, 32, 32)
    assert model(x).shape == (2, 3)
    assert torch.allclose(model.features(x), model.module.body(x).mean((2, 3)))
    assert [n for n, p in model.named_parameters() if p.requires_grad] == [
        "head.weight",
        "head.bias",
    ]


def test_broken_plugin_gets_one_line_naming_what_is_missing():
    with pytest.raises(UserError) as err:
        create(BROKEN, 2)
    msg = str(err.value)
    assert "\n" not in msg
    assert "lacks features(images), data_config (dict)" in msg


@pytest.mark.parametrize(
    "spec, text",
    [
        ("plugin:nowhere.py:build", "does not exist"),
        (f"plugin:{PLUGINS / 'tiny_plugin.py'}:make", "has no function 'make'"),
        ("plugin:justaname", "expected plugin:path/to/file.py:function"),
    ],
)
def test_plugin_spec_errors(spec, text):
    with pytest.raises(UserError, match=text):
        create(spec, 2)


def test_unknown_plugin_option_is_named():
    with pytest.raises(UserError, match="does not take option"):
        create(TINY, 2, depth=3)


def test_local_weights_load_into_a_plugin(tmp_path):
    from safetensors.torch import save_file

    src = create(TINY, 2)
    save_file(src.module.state_dict(), str(tmp_path / "model.safetensors"))
    model = create(TINY, 2, weights=tmp_path)
    for k, v in src.module.state_dict().items():
        assert torch.equal(model.module.state_dict()[k], v)
    assert model.weights_source.endswith("model.safetensors")


def test_entry_point_group(monkeypatch):
    import importlib.metadata

    monkeypatch.syspath_prepend(str(PLUGINS))
    ep = EntryPoint(name="acme/tiny", value="tiny_plugin:build", group="breastbench.models")

    def entry_points(group=None):
        return [ep] if group == "breastbench.models" else []

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    model = create("acme/tiny", 2)
    assert model.name == "acme/tiny" and model.feature_dim == 8


def test_models_info_of_a_plugin(capsys):
    assert main(["models", "info", TINY, "--json"]) == 0
    assert '"family": "plugin"' in capsys.readouterr().out
    assert main(["models", "info", BROKEN]) == 2
    assert "error:" in capsys.readouterr().err
