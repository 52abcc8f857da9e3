"""The README's plugin example, exactly as written, runs end to end through the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from breastbench.cli import main
from breastbench.errors import UserError

README = Path(__file__).parents[2] / "README.md"


def readme_example() -> tuple[str, list]:
    """(models/my_model.py source, models entries) from the README's plugin section."""
    text = README.read_text()
    section = text[text.index("Your own model in one file") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    models = yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, re.S).group(1))["models"]
    return code, models


def test_readme_plugin_example_runs(tmp_path, synth_root, monkeypatch, capsys, load_runs):
    code, models = readme_example()
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "my_model.py").write_text(code)
    assert models[0]["options"] == {"width": 64}
    cfg = {
        "name": "plugin",
        "output_dir": "out",
        "synthetic": True,
        "datasets": [
            {
                "name": "breakhis",
                "source": "synthetic-breakhis",
                "root": str(synth_root / "breakhis"),
                "task": "binary",
                "magnifications": [200],
            }
        ],
        "models": models,
        "cv": {"k": 2},
        "training": {"epochs": 1, "batch_size": 16, "lr": 3e-3},
    }
    (tmp_path / "my.yaml").write_text(yaml.safe_dump(cfg))
    monkeypatch.chdir(tmp_path)  # the README's relative path resolves from here
    assert main(["run", "my.yaml", "--no-report"]) == 0, capsys.readouterr().err
    runs = load_runs(tmp_path / "out")
    assert len(runs) == 4  # linear_probe and finetune x 2 folds
    for r in runs.values():
        assert r["run"]["model_family"] == "plugin"
        assert r["run"]["preprocessing"]["input_size"] == [3, 64, 64]  # the int input_size
        assert len(r["predictions"]) == r["run"]["n_test"] > 0


PLUGIN = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, width=4, size=32, mean=(0.5, 0.5, 0.5), dim=None, bad=False):
        super().__init__()
        self.feature_dim = dim or width
        self.data_config = {"input_size": size, "mean": mean, "std": (0.5, 0.5, 0.5)}
        self.conv = nn.Conv2d(3, width, 3)
        self.bad = bad

    def features(self, images):
        if self.bad:
            raise RuntimeError("boom")
        return self.conv(images).mean(dim=(2, 3))


def build(num_classes, **options):
    return Net(**options)


def build_weights(num_classes, weights=None, **options):
    assert weights in (None, "pretrained")
    return Net(**options)
"""


@pytest.mark.parametrize(
    "options, expected",
    [
        ({"size": "big"}, "data_config['input_size'] is 'big'; give an int side"),
        ({"mean": (0.5,)}, "data_config['mean'] is (0.5,); give 3 numbers"),
        (
            {"dim": 7},
            "features() returned shape (1, 4) for one image; expected (1, feature_dim) = (1, 7)",
        ),
        ({"bad": True}, "features() failed on a (1, 3, 32, 32) batch (RuntimeError: boom)"),
        ({"depth": 3}, "build(num_classes=..., depth=...) failed (TypeError"),
    ],
)
def test_plugin_mismatches_are_one_line(tmp_path, monkeypatch, capsys, options, expected):
    from breastbench.models import create

    (tmp_path / "p.py").write_text(PLUGIN)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError) as err:
        create("plugin:p.py:build", 2, **options)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_weights_only_for_a_function_that_names_it(tmp_path, monkeypatch):
    from breastbench.models import create

    (tmp_path / "p.py").write_text(PLUGIN)
    monkeypatch.chdir(tmp_path)
    model = create("plugin:p.py:build", 2, input_size=48)  # **options: no weights= passed
    assert model.data_config["input_size"] == (3, 48, 48)
    model = create("plugin:p.py:build_weights", 2, weights="pretrained")
    assert model.weights_source == "pretrained"
    with pytest.raises(UserError, match="has no 'pretrained' weights"):
        create("plugin:p.py:build", 2, weights="pretrained")
