"""Bad experiment files fail with one clear line before any training starts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from breastbench.cli import main

CNN = {"name": "cnn/test-resnet", "modes": ["finetune"]}


def _run_and_expect(capsys, cfg_path: Path, *needles: str) -> None:
    assert main(["run", "--no-report", str(cfg_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    for n in needles:
        assert n in err, err


def _edit(path: Path, fn) -> Path:
    data = yaml.safe_load(path.read_text())
    fn(data)
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("edit", "needles"),
    [
        (lambda d: d["training"].update(lrr=1), ["training", "unknown key 'lrr'", "'lr'"]),
        (lambda d: d["training"].update(epochs="many"), ["training.epochs", "integer"]),
        (lambda d: d.update(augmentation=["sometimes"]), ["augmentation", "'on'", "'off'"]),
        (lambda d: d["models"][0].update(name="cnn/resnet35"), ["unknown model", "resnet34"]),
        (lambda d: d["models"][0].update(modes=["zero_shot"]), ["cannot run mode 'zero_shot'"]),
        (lambda d: d["models"][0].update(modes=["sleep"]), ["models[0].modes[0]", "'lora'"]),
        (lambda d: d["datasets"][0].update(root="/nonexistent/x"), ["datasets[0].root"]),
        (lambda d: d["datasets"][0].update(magnifications=[300]), ["magnifications", "400"]),
        (lambda d: d.update(external=[{"train": "breakhis", "test": "nope"}]), ["external[0]"]),
        (lambda d: d["training"].update(select_best=True), ["val_fraction"]),
    ],
    ids=[
        "unknown-key",
        "wrong-type",
        "bad-augmentation",
        "unknown-model",
        "mode-unsupported",
        "unknown-mode",
        "missing-root",
        "bad-magnification",
        "unknown-external",
        "select-on-test",
    ],
)
def test_bad_config_one_line(write_config, tmp_path, capsys, edit, needles):
    cfg = _edit(write_config([dict(CNN)]), edit)
    _run_and_expect(capsys, cfg, *needles)
    assert not (tmp_path / "out" / "runs").exists()  # nothing trained, nothing half-written


def test_malformed_yaml(tmp_path, capsys):
    p = tmp_path / "bad.yaml"
    p.write_text("datasets: [unclosed\n")
    _run_and_expect(capsys, p, "bad.yaml", "not valid YAML")


def test_fold_with_one_class_fails_before_training(tmp_path, capsys):
    from PIL import Image

    root = tmp_path / "folder"
    # class a: 6 patients, class b: 2 patients -> with k=5, three test folds lack class b
    for cls, n in (("a", 6), ("b", 2)):
        (root / cls).mkdir(parents=True)
        for p in range(n):
            Image.new("RGB", (8, 8), (p * 9, 0, 0)).save(root / cls / f"{cls}{p}_img.png")
    cfg = {
        "output_dir": str(tmp_path / "out"),
        "datasets": [
            {
                "name": "f",
                "source": "folder",
                "root": str(root),
                "options": {"patient_regex": r"^([a-z]\d+)_"},
            }
        ],
        "models": [CNN],
        "cv": {"k": 5},
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    _run_and_expect(capsys, path, "lacks a class", "cv.k")
    assert not (tmp_path / "out" / "runs").exists()
