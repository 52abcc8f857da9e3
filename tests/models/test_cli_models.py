"""The ``models`` command group through the real ``breastbench.cli.main``."""

import json

import pytest

from breastbench.cli import main


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_list_shows_every_family(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # wide enough for the licence column
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("cnn/resnet34", "cnn/alexnet", "clip/biomedclip", "clip/test-biomedclip"):
        assert name in out
    assert "linear_probe" in out and "apache-2.0" in out


def test_info_json_counts(capsys):
    d = _json(capsys, ["models", "info", "cnn/resnet34", "--json"])
    assert d["total_params"] / 1e6 == pytest.approx(21.8, abs=0.05)
    assert d["trainable_params"] == 513_000 and d["mode"] == "linear_probe"
    assert d["input_size"] == [3, 224, 224] and d["licence"] == "apache-2.0"
    assert d["weights"] == "hf-hub:timm/resnet34.a1_in1k"
    d = _json(capsys, ["models", "info", "cnn/vgg19", "--mode", "finetune", "--json"])
    assert d["total_params"] / 1e6 == pytest.approx(143.7, abs=0.05)
    assert d["trainable_params"] == d["total_params"]
    d = _json(capsys, ["models", "info", "clip/biomedclip", "--mode", "zero_shot", "--json"])
    assert d["trainable_params"] == 0 and d["total_params"] > 190e6


def test_info_table(capsys):
    assert main(["models", "info", "clip/test-biomedclip", "--mode", "linear_probe"]) == 0
    assert "trainable_params" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["models", "info", "cnn/resnet35"], "unknown model 'cnn/resnet35'. Did you mean"),
        (["models", "info", "cnn/resnet34", "--mode", "zero_shot"], "cannot run mode 'zero_shot'"),
        (["models", "info", "cnn/resnet34", "--weights", "pretrained"], "HF Hub 'timm/resnet34"),
        (["models", "info", "clip/biomedclip", "--weights", "pretrained"], "--weights /path/to"),
    ],
)
def test_user_errors_are_one_line_exit_2(capsys, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_list_shows_zero_shot_among_the_vlm_modes(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")  # the modes cell must not be cut
    assert main(["models", "list", "--family", "vlm"]) == 0
    rows = [ln for ln in capsys.readouterr().out.splitlines() if "vlm/" in ln]
    assert {r.split("│")[1].strip() for r in rows} >= {"vlm/qwen2-vl-2b", "vlm/smolvlm"}
    assert all("zero_shot, linear_probe, lora, finetune" in r for r in rows)
    d = _json(capsys, ["models", "info", "vlm/test-smolvlm", "--mode", "zero_shot", "--json"])
    assert d["trainable_params"] == 0 and "zero_shot" in d["modes"]
