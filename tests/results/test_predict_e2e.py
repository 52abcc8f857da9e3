"""`predict` reproduces every run's own test-fold probabilities from its checkpoint.

Every family and mode, a text-context VLM and a stain-normalised run: the checkpoint's
preprocessing record is the only thing predict uses, so the numbers must agree to 1e-6.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from breastbench.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from helpers import check_predict, datasets, strict_json_files  # noqa: E402

TRAINING = {"epochs": 1, "batch_size": 16, "lr": 3.0e-3, "save_checkpoints": "first_fold"}
MODELS = [
    {"name": "cnn/test-resnet", "label": "cnn", "modes": ["finetune", "linear_probe"]},
    {
        "name": "clip/test-biomedclip",
        "label": "clip",
        "modes": ["zero_shot", "linear_probe", "finetune"],
        "prompt_set": "histology_binary",
    },
    {
        "name": "vlm/test-smolvlm",
        "label": "smol",
        "modes": ["lora", "linear_probe"],
        "text_context": "Magnification: {magnification}x",
    },
    {"name": "vlm/test-qwen2-vl", "label": "qwen", "modes": ["lora", "linear_probe"]},
]


def _run(tmp_path: Path, synth: Path, models, **extra) -> Path:
    cfg = {
        "name": "p",
        "output_dir": str(tmp_path / "out"),
        "synthetic": True,
        "datasets": datasets(synth)[:1],
        "models": models,
        "cv": {"k": 2, "seed": 0},
        "training": TRAINING,
        **extra,
    }
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    assert main(["run", str(path), "--no-report"]) == 0
    return tmp_path / "out"


@pytest.mark.slow  # every family and mode trained
def test_predict_equals_the_run_for_every_family_and_mode(tmp_path, synth):
    out = _run(tmp_path, synth, MODELS)
    assert check_predict(out, tmp_path) == 9  # every (model, mode), fold 0
    meta = json.loads(
        next((out / "runs").glob("*smol*lora*fold0/checkpoint/meta.json")).read_text()
    )
    assert meta["preprocessing"]["text_context"] == "Magnification: {magnification}x"
    run = json.loads(next((out / "runs").glob("*smol*lora*fold0/run.json")).read_text())
    assert run["preprocessing"] == meta["preprocessing"]
    assert strict_json_files(out)


def test_text_context_needs_its_values(tmp_path, synth, capsys):
    out = _run(tmp_path, synth, [MODELS[2] | {"modes": ["lora"]}])
    ckpt = next((out / "runs").glob("*fold0/checkpoint"))
    image = pd.read_csv(ckpt.parent / "predictions.csv")["path"].iloc[0]
    lone = tmp_path / "elsewhere"  # a copy outside any run folder: no manifest to look in
    import shutil

    shutil.copytree(ckpt, lone)
    capsys.readouterr()
    assert main(["predict", str(lone), image, "-o", str(tmp_path / "x.csv")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "magnification" in err[0] and "--context" in err[0]
    # the advice works: the value given on the command line fills the template
    assert (
        main(
            [
                "predict",
                str(lone),
                image,
                "--context",
                "magnification=200",
                "-o",
                str(tmp_path / "x.csv"),
            ]
        )
        == 0
    )
    got = pd.read_csv(tmp_path / "x.csv")["prob_malignant"].iloc[0]
    want = pd.read_csv(ckpt.parent / "predictions.csv")["prob_malignant"].iloc[0]
    assert got == pytest.approx(want, abs=1e-6)


@pytest.mark.slow  # a stain-normalised run trained, then predict
def test_stain_normalised_run_predicts_the_same(tmp_path, synth):
    out = _run(
        tmp_path,
        synth,
        [{"name": "cnn/test-resnet", "label": "cnn", "modes": ["finetune"]}],
        stain_norm=True,
    )
    meta = json.loads(next((out / "runs").glob("*fold0/checkpoint/meta.json")).read_text())
    assert meta["preprocessing"]["stain_norm"] is True
    assert check_predict(out, tmp_path) == 1


@pytest.mark.slow  # a trained run in a subprocess without fcntl
def test_run_works_without_fcntl(tmp_path, synth):
    """Windows has no fcntl: `run --help` and a tiny run must not need it."""
    cfg = {
        "name": "w",
        "output_dir": str(tmp_path / "out"),
        "synthetic": True,
        "datasets": datasets(synth)[:1],
        "models": [{"name": "cnn/test-resnet", "modes": ["finetune"]}],
        "cv": {"k": 2, "seed": 0},
        "training": {"epochs": 1, "batch_size": 16},
    }
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump(cfg))
    code = (
        "import sys; sys.modules['fcntl'] = None\n"
        "from breastbench.cli import main\n"
        "try:\n    main(['run', '--help'])\nexcept SystemExit as e:\n    assert e.code == 0\n"
        f"sys.exit(main(['run', {str(path)!r}, '--no-report', '--only', '*fold0']))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "usage: breastbench run" in res.stdout
    assert (tmp_path / "out" / "runs").is_dir() and (tmp_path / "out" / "summary").is_dir()
