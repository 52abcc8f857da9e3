"""`--set KEY=VALUE` overrides and shipped configs by name."""

from __future__ import annotations

import json

import pytest
import yaml

from breastbench.cli import main
from breastbench.experiment.config import load_config

MODELS = [{"name": "cnn/test-resnet", "label": "cnn", "modes": ["finetune"]}]


def test_set_epochs_and_k_runs_and_is_recorded(write_config, tmp_path, capsys):
    cfg = write_config(MODELS, k=5, epochs=4)
    out = tmp_path / "out"
    argv = ["run", str(cfg), "--out", str(out), "--no-report"]
    argv += ["--set", "training.epochs=1", "--set", "cv.k=3"]
    argv += ["--set", "models.0.modes=[linear_probe]"]  # a list index and a YAML list
    assert main(argv) == 0
    runs = sorted(p.parent.name for p in (out / "runs").glob("*/metrics.json"))
    assert len(runs) == 3 and all("__linear_probe__" in r for r in runs)
    text = (out / "experiment.yaml").read_text()
    assert "# --set training.epochs=1" in text and "# --set cv.k=3" in text
    saved = yaml.safe_load(text)
    assert saved["training"]["epochs"] == 1 and saved["cv"]["k"] == 3
    assert saved["models"][0]["modes"] == ["linear_probe"]
    info = json.loads((out / "runs" / runs[0] / "run.json").read_text())
    assert info["config"]["training"]["epochs"] == 1
    assert yaml.safe_load(cfg.read_text())["training"]["epochs"] == 4  # the file is untouched


@pytest.mark.parametrize(
    "item, expected",
    [
        ("training.epoch=1", "training: unknown key 'epoch' (did you mean 'epochs'?)"),
        ("training.epochs=many", "training.epochs: got 'many'; expected an integer"),
        ("models.3.modes=[lora]", "--set models.3.modes=[lora]: models is a list of 1 entries"),
        ("models.0.modes=[sleep]", "models[0].modes[0]: got 'sleep'; allowed:"),
        ("training", "--set training: expected KEY=VALUE"),
        ("cv.k=[1", "--set cv.k=[1: the value is not valid YAML"),
    ],
)
def test_bad_overrides_get_the_schema_line(write_config, tmp_path, capsys, item, expected):
    cfg = write_config(MODELS)
    assert main(["run", str(cfg), "--out", str(tmp_path / "o"), "--set", item]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and expected in err, err
    assert not (tmp_path / "o").exists()


def test_the_same_line_as_in_the_file(write_config, tmp_path):
    """A bad key reads the same whether it is in the YAML or given with --set."""
    cfg = write_config(MODELS)
    data = yaml.safe_load(cfg.read_text())
    data["training"]["epoch"] = 1
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(Exception) as in_file:
        load_config(bad)
    with pytest.raises(Exception) as by_set:
        load_config(cfg, sets=["training.epoch=1"])
    schema_line = str(in_file.value).split(": ", 1)[1]
    assert schema_line in str(by_set.value)


def test_shipped_configs_by_name(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no configs/ folder here: the packaged files are found
    assert main(["configs", "list"]) == 0
    listed = capsys.readouterr().out
    for name in ("breakhis_cnn_vs_vlm", "demo", "label_efficiency"):
        assert f"{name}: " in listed
    assert main(["run", "breakhis_cnn_vs_vlm", "--dry-run", "--only", "*resnet34*fold0"]) == 0
    ids = capsys.readouterr().out.split()
    assert ids and all("ResNet34" in i and i.endswith("fold0") for i in ids)
    assert main(["plan", "breakhis_cnn_vs_vlm", "--skip-preflight", "--json"]) == 0
    capsys.readouterr()
    assert main(["run", "no_such_study"]) == 2
    err = capsys.readouterr().err
    assert "no_such_study" in err and "breakhis_cnn_vs_vlm" in err and "configs list" in err
