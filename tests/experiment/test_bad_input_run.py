"""Bad input to `run`, `report` and `predict`: one line, exit 2, nothing written; and faults.

Each row: exit 2, exactly one stderr line naming the field or file and the fix, no output
folder. Faults: changed settings, truncated caches, a full disk.
"""

from __future__ import annotations

import copy
import errno
from pathlib import Path

import pytest
import yaml

from breastbench.cli import main

BASE_MODEL = {"name": "cnn/test-resnet", "label": "cnn", "modes": ["finetune"]}


def _base(synth_root: Path, out: Path) -> dict:
    return {
        "name": "bad",
        "output_dir": str(out),
        "synthetic": True,
        "datasets": [
            {
                "name": "breakhis",
                "source": "synthetic-breakhis",
                "root": str(synth_root / "breakhis"),
                "task": "binary",
                "magnifications": [200],
            },
            {
                "name": "bach",
                "source": "synthetic-bach",
                "root": str(synth_root / "bach"),
                "task": "binary",
                "cross_validate": False,
            },
        ],
        "models": [dict(BASE_MODEL)],
        "cv": {"k": 2, "seed": 0},
        "training": {"epochs": 1, "batch_size": 16},
    }


def _set(cfg: dict, dotted: str, value) -> dict:
    cfg = copy.deepcopy(cfg)
    node = cfg
    parts = dotted.split(".")
    for p in parts[:-1]:
        node = node[int(p)] if p.isdigit() else node[p]
    last = parts[-1]
    if value is DELETE:
        del node[last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return cfg


DELETE = object()

# (id, dotted field, value, words the one line must contain)
CONFIG_ROWS = [
    ("negative-lr", "training.lr", -1.0, ["training.lr", "> 0"]),
    ("zero-lr", "training.lr", 0.0, ["training.lr"]),
    ("batch-0", "training.batch_size", 0, ["training.batch_size", "1 or more"]),
    ("epochs-neg", "training.epochs", -2, ["training.epochs"]),
    ("wd-neg", "training.weight_decay", -0.1, ["training.weight_decay"]),
    ("workers-neg", "training.num_workers", -1, ["training.num_workers"]),
    ("early-0", "training.early_stopping", 0, ["training.early_stopping"]),
    ("model-lr-0", "models.0.lr", 0.0, ["models[0].lr"]),
    ("model-lr-mode", "models.0.lr", {"finetune": -1e-3}, ["models[0].lr.finetune"]),
    ("model-lr-key", "models.0.lr", {"train": 1e-3}, ["models[0].lr", "train"]),
    ("input-size-0", "models.0.input_size", 0, ["models[0].input_size"]),
    ("micro-0", "models.0.micro_batch_size", 0, ["models[0].micro_batch_size"]),
    ("resize-bogus", "models.0.resize", "stretch", ["models[0].resize", "squash"]),
    ("unknown-key", "training.epoch", 3, ["training", "epoch", "did you mean"]),
    ("epochs-type", "training.epochs", "ten", ["training.epochs", "integer"]),
    ("amp-bogus", "training.amp", "fast", ["training.amp", "allowed"]),
    ("k-1", "cv.k", 1, ["cv.k", "at least 2"]),
    ("val-frac", "training.val_fraction", 0.95, ["training.val_fraction"]),
    ("select-best", "training.select_best", True, ["val_fraction", "never on the test fold"]),
    ("group-by", "cv.group_by", "slide", ["cv.group_by", "allowed"]),
    ("unknown-model", "models.0.name", "cnn/resnet35", ["models[0].name", "resnet35"]),
    ("mode-unsupported", "models.0.modes", ["zero_shot"], ["models[0].modes", "zero_shot"]),
    ("mode-unknown", "models.0.modes", ["probe"], ["models[0].modes[0]", "allowed"]),
    ("no-modes", "models.0.modes", [], ["models[0].modes"]),
    ("text-on-cnn", "models.0.text_context", "Mag {magnification}", ["text_context", "VLM"]),
    ("text-field", "models.0.text_context", "A {organ} image", ["text_context", "{organ}"]),
    ("shots-no-zero-shot", "models.0.shots", [2], ["models[0].shots", "add zero_shot"]),
    ("shots-negative", "models.0.shots", [-1], ["models[0].shots", ">= 0"]),
    (
        "shots-on-clip",
        "models.0",
        {
            "name": "clip/test-biomedclip",
            "modes": ["zero_shot"],
            "prompt_set": "bach",
            "shots": [2],
        },
        ["models[0].shots", "generative VLM", "remove shots"],
    ),
    (
        "vlm-head-from-text",
        "models.0",
        {"name": "vlm/test-qwen2-vl", "modes": ["linear_probe"], "init_head_from_text": True},
        ["models[0].init_head_from_text", "remove init_head_from_text"],
    ),
    (
        "vlm-question-set",
        "models.0",
        {"name": "vlm/test-smolvlm", "modes": ["zero_shot"], "prompt_set": "density_views"},
        ["models[0].prompt_set", "question set 'density_views' not found", "histology_binary"],
    ),
    (
        "vlm-question-magnification",
        "models.0",
        {
            "name": "vlm/test-smolvlm",
            "modes": ["zero_shot"],
            "prompt_set": "density",
            "magnification_prompts": True,
        },
        ["models[0].magnification_prompts", "magnification_question"],
    ),
    ("no-models", "models", [], ["models", "at least one"]),
    ("no-datasets", "datasets", [], ["datasets", "at least one"]),
    ("ds-no-root", "datasets.0.root", None, ["datasets[0].root", "required"]),
    ("ds-missing-root", "datasets.0.root", "/nonexistent/bh", ["datasets[0].root", "does not"]),
    ("ds-bad-name", "datasets.0.name", "break his", ["datasets[0].name"]),
    ("ds-mag", "datasets.0.magnifications", [50], ["datasets[0].magnifications", "40"]),
    ("ds-unknown-source", "datasets.0.source", "breakhiss", ["breakhiss", "choose one"]),
    (
        "mag-on-bach",
        "datasets.1",
        {
            "name": "bach",
            "source": "synthetic-bach",
            "root": "ROOT/bach",
            "task": "binary",
            "magnifications": [40],
        },
        ["datasets[1].magnifications", "remove"],
    ),
    ("dup-dataset", "datasets.1.name", "breakhis", ["duplicate name", "breakhis"]),
    (
        "ext-unknown",
        "external",
        [{"train": "breakhis", "test": "inbreast"}],
        ["external[0].test", "inbreast"],
    ),
    ("ext-no-test", "external", [{"train": "breakhis"}], ["external[0]", "test"]),
    (
        "ext-label-map",
        "external",
        [{"train": "breakhis", "test": "bach", "label_map": {"benign": "normal-ish"}}],
        ["external[0].label_map", "label_map"],
    ),
    (
        "compare-label",
        "compare",
        {"pairs": [["ResNet99", "cnn"]]},
        ["compare.pairs[0][0]", "ResNet99"],
    ),
    ("compare-three", "compare", {"pairs": [["cnn", "cnn", "cnn"]]}, ["compare.pairs[0]", "two"]),
    (
        "compare-field",
        "compare",
        {"pairs": [[{"colour": "x"}, "cnn"]]},
        ["compare.pairs[0][0]", "colour"],
    ),
    ("compare-mode", "compare", {"pairs": [["cnn:probe", "cnn"]]}, ["compare.pairs[0][0].mode"]),
    ("compare-unit", "compare", {"unit": "slide"}, ["compare.unit", "allowed"]),
    ("compare-boot", "compare", {"n_boot": 10}, ["compare.n_boot"]),
    ("compare-ref", "compare", {"reference": "ResNet99"}, ["compare.reference", "ResNet99"]),
    ("compare-primary", "compare", {"primary": "delong"}, ["compare.primary", "allowed"]),
    ("compare-alpha", "compare", {"alpha": 5}, ["compare.alpha", "(0, 1)"]),
    (
        "compare-dataset",
        "compare",
        {"pairs": [[{"dataset": "vindr"}, "cnn"]]},
        ["compare.pairs[0][0]", "vindr"],
    ),
]


@pytest.mark.parametrize("row", CONFIG_ROWS, ids=[r[0] for r in CONFIG_ROWS])
def test_bad_config_is_one_line_and_writes_nothing(row, tmp_path, synth_root, capsys):
    _, field, value, words = row
    out = tmp_path / "out"
    cfg = _set(_base(synth_root, out), field, value)
    text = yaml.safe_dump(cfg, sort_keys=False).replace("ROOT", str(synth_root))
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    capsys.readouterr()
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    for w in words:
        assert w in err[0], (w, err[0])
    assert not out.exists()  # nothing written


TEXT_ROWS = [
    ("dup-key", "training: {epochs: 1, epochs: 2}\n", ["duplicate key", "epochs"]),
    ("bad-yaml", "models: [\n", ["not valid YAML"]),
    ("not-mapping", "- 1\n- 2\n", ["expected a mapping"]),
    (
        "env-unset",
        "datasets:\n  - name: a\n    source: breakhis\n    root: ${BB_SURELY_UNSET}\n"
        "models:\n  - name: cnn/test-resnet\n",
        ["BB_SURELY_UNSET", "set it"],
    ),
]


@pytest.mark.parametrize("row", TEXT_ROWS, ids=[r[0] for r in TEXT_ROWS])
def test_bad_yaml_text_is_one_line(row, tmp_path, capsys):
    _, text, words = row
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and all(w in err[0] for w in words), err


def test_unquoted_off_is_accepted_for_amp(tmp_path, synth_root):
    path = tmp_path / "ok.yaml"
    text = yaml.safe_dump(_base(synth_root, tmp_path / "out")).replace(
        "batch_size: 16", "batch_size: 16\n  amp: off"
    )
    path.write_text(text)
    from breastbench.experiment.config import load_config

    assert load_config(path).training.amp == "off"


def _cli_rows(tmp_path: Path, synth_root: Path) -> list[tuple[list[str], list[str]]]:
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(_base(synth_root, tmp_path / "never")))
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    old = tmp_path / "old"
    (old / "runs" / "breakhis__40x__cnn-x__finetune__aug-off__fold0").mkdir(parents=True)
    empty = tmp_path / "empty"
    (empty / "runs").mkdir(parents=True)
    broken = tmp_path / "ckpt"
    broken.mkdir()
    (broken / "meta.json").write_text('{"name": "cnn/test-resnet", "num_cl')
    (broken / "model.safetensors").write_bytes(b"\0" * 10)
    garbage = tmp_path / "ckpt2"
    garbage.mkdir()
    (garbage / "meta.json").write_text(
        '{"format": 1, "name": "cnn/test-resnet", "num_classes": 2, "mode": "finetune", '
        '"classes": ["a", "b"], "weights": null, "weights_source": "random", "state": "full", '
        '"kwargs": {}, "data_config": {}}'
    )
    (garbage / "model.safetensors").write_bytes(b"garbage" * 20)
    img = synth_root / "breakhis"
    return [
        (["run", str(tmp_path / "nope.yaml")], ["nope.yaml", "not found"]),
        (["run", str(good), "--only", "*vgg*"], ["--only", "run ids look like"]),
        (["run", str(good), "--out", str(a_file)], ["is a file"]),
        (["report", str(tmp_path / "nothing")], ["not found", "--out"]),
        (["report", str(a_file)], ["not found"]),
        (["report", str(old)], ["older breastbench", "new --out"]),
        (["report", str(empty)], ["holds no runs"]),
        (["predict", str(tmp_path), str(img)], ["not a breastbench checkpoint"]),
        (["predict", str(broken), str(img)], ["meta.json", "unreadable"]),
        (["predict", str(garbage), str(img)], ["model.safetensors", "safetensors"]),
        (["predict", str(garbage), str(tmp_path / "no.png")], ["no.png", "no such file"]),
        (["predict", str(garbage), str(img), "--context", "magnification"], ["KEY=VALUE"]),
        (
            ["predict", str(garbage), str(img), "--context", "a=1", "--context", "a=2"],
            ["given twice"],
        ),
        (["predict", str(garbage), str(img), "--batch-size", "0"], ["--batch-size"]),
    ]


def test_bad_command_lines_are_one_line(tmp_path, synth_root, capsys):
    rows = _cli_rows(tmp_path, synth_root)
    assert len(CONFIG_ROWS) + len(TEXT_ROWS) + len(rows) >= 60
    for argv, words in rows:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: "), (argv, err)
        for w in words:
            assert w in err[0], (argv, w, err[0])
    assert not (tmp_path / "never").exists()


# -- faults ------------------------------------------------------------------------------------
@pytest.mark.slow  # trains, changes settings, retrains
def test_changed_settings_are_named_and_retrained_on_request(tmp_path, synth_root, capsys):
    out = tmp_path / "out"
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(_base(synth_root, out)))
    assert main(["run", str(path), "--no-report"]) == 0
    before = (out / "runs").stat().st_mtime_ns
    changed = _set(_base(synth_root, out), "training.lr", 5e-3)
    path.write_text(yaml.safe_dump(changed))
    capsys.readouterr()
    assert main(["run", str(path), "--no-report"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "training.lr" in err[0] and "--retrain-changed" in err[0]
    assert (out / "runs").stat().st_mtime_ns == before  # nothing touched
    assert main(["run", str(path), "--no-report", "--retrain-changed"]) == 0
    import json

    for run in (out / "runs").glob("*/run.json"):
        assert json.loads(run.read_text())["config"]["training"]["lr"] == 5e-3
    # a setting that changes nothing computed (workers) is not a reason to stop
    same = _set(changed, "training.num_workers", 0)
    path.write_text(yaml.safe_dump(same))
    assert main(["run", str(path), "--no-report"]) == 0


def test_truncated_feature_cache_is_rebuilt(tmp_path, synth_root):
    cfg = _base(synth_root, tmp_path / "a")
    cfg["models"] = [{"name": "cnn/test-resnet", "modes": ["linear_probe"]}]
    path = tmp_path / "f.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["run", str(path), "--no-report", "--out", str(tmp_path / "a")]) == 0
    feats = sorted((tmp_path / "a" / "cache" / "features").glob("*.npy"))
    assert feats
    for f in feats:
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])  # truncated by a crash
    import shutil

    shutil.rmtree(tmp_path / "a" / "runs")  # the marker stays: still breastbench's folder
    assert main(["run", str(path), "--no-report", "--out", str(tmp_path / "a")]) == 0
    import numpy as np

    for f in feats:
        assert np.load(f).ndim == 2  # rebuilt whole


@pytest.mark.slow  # a trained run cut by a full disk, resumed
def test_full_disk_is_one_line_no_debris_and_resumes(tmp_path, synth_root, capsys, monkeypatch):
    out = tmp_path / "out"
    path = tmp_path / "d.yaml"
    path.write_text(yaml.safe_dump(_base(synth_root, out)))
    import pandas as pd

    real = pd.DataFrame.to_csv
    calls = {"n": 0}

    def full(self, target=None, *a, **k):
        # the one atomic write hands pandas a hidden temporary beside predictions.csv
        if isinstance(target, (str, Path)) and "predictions.csv" in Path(target).name:
            calls["n"] += 1
            if calls["n"] == 2:  # the second run finds the disk full
                raise OSError(errno.ENOSPC, "No space left on device", str(target))
        return real(self, target, *a, **k)

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    capsys.readouterr()
    assert main(["run", str(path), "--no-report"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "No space left on device" in err[-1] and "predictions.csv" in err[-1]
    assert err[-1].startswith("error: ")
    assert not list((out / "runs").glob(".tmp-*"))  # no half-written run
    assert len(list((out / "runs").glob("*/metrics.json"))) == 1  # the first run is kept
    monkeypatch.setattr(pd.DataFrame, "to_csv", real)  # space freed
    assert main(["run", str(path), "--no-report"]) == 0
    assert len(list((out / "runs").glob("*/metrics.json"))) == 2


def test_data_advice_under_run_names_the_config_key_and_works(tmp_path, capsys):
    """`run` spells the data layer's fix as the experiment-file key it reads, and it works."""
    from PIL import Image

    root = tmp_path / "dens"
    root.mkdir()
    rows = ["path,density,patient_id"]
    for i in range(24):
        Image.new("L", (32, 32), color=10 * i).save(root / f"m{i}.png")
        rows.append(f"m{i}.png,{'ABCD'[i % 4]},p{i // 2}")
    rows.append("bad.png,Z,p99")  # an unknown density (and a missing file)
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    cfg = {
        "output_dir": str(tmp_path / "out"),
        "datasets": [{"name": "d", "source": "density-csv", "root": str(root)}],
        "models": [{"name": "cnn/test-resnet", "modes": ["finetune"]}],
        "cv": {"k": 2},
        "training": {"epochs": 1, "batch_size": 8},
    }
    path = tmp_path / "d.yaml"
    path.write_text(yaml.safe_dump(cfg))
    capsys.readouterr()
    assert main(["run", str(path), "--no-report"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "datasets[0].options: {skip_invalid: true}" in err[0], err
    assert "--skip-invalid" not in err[0]
    cfg["datasets"][0]["options"] = {"skip_invalid": True}  # follow the advice
    path.write_text(yaml.safe_dump(cfg))
    assert main(["run", str(path), "--no-report"]) == 0


def test_every_flag_an_error_suggests_exists():
    """Each `--flag` written in an error message is an option of some breastbench command."""
    import argparse
    import re

    from breastbench.cli import build_parser

    flags: set[str] = set()

    def walk(p: argparse.ArgumentParser) -> None:
        for action in p._actions:
            flags.update(action.option_strings)
            if isinstance(action, argparse._SubParsersAction):
                for child in action.choices.values():
                    walk(child)

    walk(build_parser())
    src = Path(__file__).parents[2] / "src" / "breastbench"
    unknown = set()
    for py in src.rglob("*.py"):
        for line in py.read_text().splitlines():
            if "UserError(" in line or line.strip().startswith(('f"', '"')):
                for flag in re.findall(r"(?<![\w-])--[a-z][a-z-]+", line):
                    # flags of other programs the advice names (ray start, gdcmconv)
                    if flag not in flags and flag not in ("--head", "--block", "--port", "--raw"):
                        unknown.add((py.name, flag))
    assert unknown == set()


def test_an_unset_root_variable_is_named(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("BREAKHIS_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    shipped = Path(__file__).parents[2] / "configs" / "breakhis_cnn_vs_vlm.yaml"
    assert main(["run", str(shipped), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    # the preflight lists the missing weights too; the root's line names the variable
    (line,) = [e for e in err if "datasets[0].root" in e]
    assert "BREAKHIS_ROOT is not set" in line and "BREAKHIS_ROOT=" in line
    assert not (tmp_path / "out").exists()


def test_a_data_option_given_twice_is_refused(tmp_path, capsys):
    (tmp_path / "benign").mkdir()
    argv = ["data", "inspect", "folder", str(tmp_path), "-O", "mapping=a=b", "-O", "mapping=c=d"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "given twice" in err[0] and "mapping=" in err[0]
