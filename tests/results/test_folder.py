"""RunFolder: atomic writes, strict JSON, older layouts refused, temporaries swept."""

from __future__ import annotations

import json
import math
import os

import pandas as pd
import pytest

from breastbench.cli import main
from breastbench.errors import UserError
from breastbench.results import RunFolder, RunKey

KEY = RunKey("breakhis", 40, "cnn/resnet34", "finetune", "color", fold=0)
PREDS = pd.DataFrame(
    {
        "image_id": ["a", "b"],
        "path": ["/a", "/b"],
        "patient_id": ["p", "q"],
        "fold": 0,
        "target": [0, 0],
        "pred": [0, 1],
        "prob_benign": [0.9, 0.4],
        "prob_malignant": [0.1, 0.6],
    }
)


def _write(folder: RunFolder, key=KEY, metrics=None):
    info = {"classes": ["benign", "malignant"], "model_family": "cnn"}
    return folder.write_run(key, info, PREDS, [], metrics or {"accuracy": 0.5, "auc": math.nan})


def test_undefined_metrics_are_null_and_read_back_as_nan(tmp_path):
    folder = RunFolder(tmp_path)
    folder.init()
    path = _write(folder)
    text = (path / "metrics.json").read_text()
    assert '"auc": null' in text and "NaN" not in text
    json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    run = folder.load(KEY)
    assert math.isnan(run.metrics["auc"]) and run.metrics["accuracy"] == 0.5
    assert folder.is_complete(KEY) and path.name == KEY.run_id
    assert RunKey.from_dict(json.loads((path / "run.json").read_text())["key"]) == KEY


def test_a_run_json_of_another_run_is_a_problem(tmp_path):
    folder = RunFolder(tmp_path)
    folder.init()
    path = _write(folder)
    info = json.loads((path / "run.json").read_text())
    info["key"]["fold"] = 3
    (path / "run.json").write_text(json.dumps(info))
    runs, problems = folder.collect()
    assert not runs and "another run" in problems[0].reason


def test_older_layout_is_refused_in_one_line(tmp_path, capsys):
    old = tmp_path / "old"
    (old / "runs" / "breakhis__40x__cnn-resnet34__finetune__aug-off__fold0").mkdir(parents=True)
    assert main(["report", str(old)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "older breastbench" in err[0] and "--out" in err[0]
    with pytest.raises(UserError, match="older"):
        RunFolder(old).init()


def test_temporaries_of_dead_processes_are_swept(tmp_path):
    folder = RunFolder(tmp_path)
    folder.init()
    dead = folder.runs_dir / f".tmp-{KEY.run_id}-999999999"
    live = folder.runs_dir / f".tmp-{KEY.run_id}-{os.getpid()}"
    dead.mkdir(parents=True)
    live.mkdir()
    runs, problems = folder.collect()
    assert problems and "temporary" in problems[0].reason
    assert folder.sweep_temporaries() == 1
    assert not dead.exists() and live.exists()


def test_missing_replicates_come_from_the_grid(tmp_path):
    folder = RunFolder(tmp_path)
    folder.init()
    keys = [RunKey("d", None, "m", "lora", fold=k) for k in range(3)]
    folder.write_grid(keys)
    _write(folder, keys[0], {"accuracy": 1.0})
    runs, problems = folder.collect()
    assert [p.key for p in problems] == keys[1:]
    assert all(p.reason.startswith("missing") for p in problems)


def test_output_path_that_is_a_file(tmp_path):
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(UserError, match="is a file"):
        RunFolder(target).init()
