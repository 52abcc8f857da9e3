"""Preflight: missing weights and data are all listed before anything is written."""

from __future__ import annotations

import json

import pytest
import yaml

from breastbench.cli import main

TINY = {"name": "cnn/test-resnet", "modes": ["linear_probe"]}


@pytest.fixture
def empty_caches(tmp_path, monkeypatch):
    """Offline, with empty HF and torch caches: nothing pretrained resolves."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


def three_models(write_config, third):
    """A grid of three models whose third has the given weights problem."""
    # b differs from a (an exact duplicate entry is rejected as a mistake)
    models = [dict(TINY, label="a"), dict(TINY, label="b", input_size=48), third]
    return write_config(models, k=2)


@pytest.mark.parametrize(
    "third, expected",
    [
        (
            {"name": "cnn/resnet34", "weights": "pretrained", "modes": ["finetune"]},
            ["models[2].weights", "cnn/resnet34", "timm/resnet34", "HF_HUB_OFFLINE", "hf download"],
        ),
        (
            {"name": "cnn/test-resnet", "label": "c", "weights": "/no/such/weights"},
            ["models[2].weights", "/no/such/weights does not exist"],
        ),
        (
            {"name": "cnn/test-resnet", "label": "c", "weights": "pretrained"},
            ["models[2].weights", "no published pretrained weights", "weights: random"],
        ),
    ],
)
def test_run_stops_before_any_run_folder(
    write_config, tmp_path, capsys, empty_caches, third, expected
):
    cfg = three_models(write_config, third)
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and all(e in err for e in expected), err
    assert "--weights" not in err  # `run` has no --weights: the advice names the YAML key
    assert not out.exists()

    assert main(["plan", str(cfg), "--json"]) == 2  # plan lists the same problem
    captured = capsys.readouterr()
    plan = json.loads(captured.out)
    assert len(plan["preflight"]) == 1 and "models[2].weights" in plan["preflight"][0]
    assert all(e in captured.err for e in expected)
    assert main(["plan", str(cfg), "--skip-preflight", "--json"]) == 0


def test_every_problem_at_once_one_line_each(write_config, tmp_path, capsys, empty_caches):
    cfg = three_models(write_config, {"name": "cnn/alexnet", "weights": "pretrained"})
    data = yaml.safe_load(cfg.read_text())
    data["models"][0]["weights"] = str(tmp_path)  # a folder without a weights file
    data["datasets"][1]["root"] = str(tmp_path / "nope")
    cfg.write_text(yaml.safe_dump(data))
    assert main(["run", str(cfg), "--out", str(tmp_path / "o")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith("error: preflight found 3 problems") and len(lines) == 4
    assert "models[0].weights" in lines[1] and "holds no weights file" in lines[1]
    assert "models[1]" not in "".join(lines)
    assert "models[2].weights" in lines[2] and "alexnet-owt" in lines[2]
    assert "datasets[1].root" in lines[3] and "nope does not exist" in lines[3]
    assert not (tmp_path / "o").exists()


def test_only_checks_the_selected_models_and_skip_preflight(
    write_config, tmp_path, capsys, empty_caches
):
    cfg = three_models(write_config, {"name": "cnn/test-resnet", "label": "c", "weights": "/x"})
    out = tmp_path / "out"
    # runs of 'a' only: the third model's missing weights do not block them
    assert main(["run", str(cfg), "--out", str(out), "--only", "__a__", "--no-report"]) == 0
    assert len(list((out / "runs").glob("*/metrics.json"))) == 2
    # --skip-preflight: the same problem surfaces only when the model is built
    argv = ["run", str(cfg), "--out", str(out), "--only", "__c__", "--skip-preflight"]
    assert main(argv) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.parametrize(
    "answer, expected",
    [
        (None, None),  # the Hub lets this user in: the weights will download
        ("gated", ["models[0].weights", "gated", "hf auth login", "HF_TOKEN"]),
        ("missing", ["models[0].weights", "not found on the Hugging Face Hub"]),
        ("offline", ["not cached and the Hugging Face Hub is unreachable", "HF_ENDPOINT"]),
    ],
)
def test_online_hub_answers(tmp_path, monkeypatch, answer, expected):
    """Not cached and not offline: the Hub is asked (here a stand-in; tests never go online)."""
    import huggingface_hub
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    from breastbench.experiment.config import ModelConfig
    from breastbench.experiment.preflight import weights_problem
    from breastbench.models import get_info

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "0")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    asked = []

    def auth_check(repo_id, **kwargs):
        asked.append(repo_id)
        if answer == "gated":
            raise GatedRepoError.__new__(GatedRepoError)
        if answer == "missing":
            raise RepositoryNotFoundError.__new__(RepositoryNotFoundError)
        if answer == "offline":
            raise ConnectionError("no route to host")

    monkeypatch.setattr(huggingface_hub, "auth_check", auth_check)
    mc = ModelConfig(name="vit/uni", weights="pretrained", modes=["linear_probe"])
    problem = weights_problem(0, mc, get_info("vit/uni"))
    assert asked == ["MahmoodLab/uni"]
    if expected is None:
        assert problem is None
    else:
        assert all(e in problem for e in expected) and "\n" not in problem, problem
