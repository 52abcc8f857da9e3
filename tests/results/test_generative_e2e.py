"""Generative zero-shot and k-shot in-context VLMs end to end: YAML -> run -> report -> predict.

The in-context examples are one image per support patient of the run's draw: the same patients
as the k-shot probes of that draw, from the training fold only, and the same for every model.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from breastbench.cli import main
from breastbench.results import RunKey

sys.path.insert(0, str(Path(__file__).parent))
from helpers import check_predict, datasets, strict_json_files  # noqa: E402


@pytest.mark.slow  # a generative study run and reported
def test_zero_shot_and_in_context_runs(tmp_path, synth):
    questions = tmp_path / "questions.yaml"  # short answers: tiny models are not saturated
    questions.write_text(
        yaml.safe_dump(
            {
                "question": "Benign or cancer?",
                "magnification_question": "At {magnification}x, benign or cancer?",
                "answers": {"benign": ["no"], "malignant": ["ya"]},
            }
        )
    )
    zs = {"modes": ["zero_shot"], "shots": [0, 2], "prompt_set": str(questions)}
    cfg = {
        "name": "icl",
        "output_dir": str(tmp_path / "out"),
        "synthetic": True,
        "datasets": datasets(synth)[:1],
        "models": [
            {"name": "vlm/test-qwen2-vl", "label": "qwen", **zs, "magnification_prompts": True},
            {"name": "vlm/test-smolvlm", "label": "smol", **zs},
        ],
        "cv": {"k": 2, "seed": 0},
        "training": {"epochs": 1, "batch_size": 16, "save_checkpoints": "first_fold"},
        "label_efficiency": {"shots": [2], "draws": 2, "modes": ["linear_probe"]},
    }
    path = tmp_path / "icl.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    out = tmp_path / "out"
    assert main(["run", str(path), "--no-explain"]) == 0
    runs = {RunKey.parse(d.name): d for d in (out / "runs").iterdir()}
    # per model: zero-shot x 2 folds, 2-shot ICL x 2 folds x 2 draws, 2-shot probe x 2 x 2
    assert len(runs) == 2 * (2 + 4 + 4)
    manifest = pd.read_csv(out / "manifests" / "breakhis.csv")
    sub = manifest[manifest["magnification"] == 200]
    patient_of = dict(zip(sub["path"], sub["patient_id"].astype(str), strict=True))
    fold_of = dict(zip(sub["path"], sub["fold"], strict=True))
    shown: dict = {}
    for key, d in runs.items():
        run = json.loads((d / "run.json").read_text())
        preds = pd.read_csv(d / "predictions.csv")
        probs = preds[["prob_benign", "prob_malignant"]].to_numpy()
        np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-6)
        if key.mode != "zero_shot":
            continue
        assert run["trainable"]["trainable_params"] == 0  # nothing trains
        if key.shots is None:
            assert run["in_context"] is None
            continue
        icl = run["in_context"]
        assert icl["examples"] == 4 and icl["labels"] == [0, 1, 0, 1]  # round-robin classes
        patients = [patient_of[p] for p in icl["paths"]]
        assert len(set(patients)) == 4  # one image per support patient
        assert all(fold_of[p] != key.fold for p in icl["paths"])  # never the test fold
        assert set(patients) == set(run["support"]["patient_ids"])
        probe = runs[
            RunKey.parse(
                d.name.replace(f"__{key.model}__zero_shot", f"__{key.model}__linear_probe")
            )
        ]
        probe_run = json.loads((probe / "run.json").read_text())
        assert probe_run["support"]["patient_ids"] == run["support"]["patient_ids"]
        shown.setdefault((key.fold, key.draw), []).append(icl["paths"])
    for (fold, draw), per_model in shown.items():
        assert per_model[0] == per_model[1], (fold, draw)  # every model sees the same examples
    assert shown[(0, 0)] != shown[(0, 1)]  # another draw, other examples
    qwen = json.loads(
        next((out / "runs").glob("*qwen__zero_shot*fold0/checkpoint/meta.json")).read_text()
    )
    assert qwen["model_meta"]["scorer"]["question"] == "At 200x, benign or cancer?"

    # report: in-context rows in the label-efficiency table beside the probes, n per point
    table = pd.read_csv(out / "report" / "tables" / "label_efficiency.csv")
    icl_rows = table[table["Mode"] == "in-context"]
    # n counts independent test sets: 2 folds (draws within a fold share its test set)
    assert len(icl_rows) == 2 and set(icl_rows["n"]) == {2}
    assert "in-context" in (out / "report" / "report.md").read_text()

    # predict reproduces zero-shot and in-context runs from their checkpoints
    # per model: fold 0 zero-shot, fold 0 x 2 draws in-context
    assert check_predict(out, tmp_path, "*zero_shot*") == 2 * (1 + 2)
    assert strict_json_files(out)


@pytest.mark.slow  # a study run twice
def test_adding_shots_to_a_finished_study_runs_only_the_new_runs(tmp_path, synth):
    model = {"name": "vlm/test-smolvlm", "label": "smol", "modes": ["zero_shot"]}
    cfg = {
        "name": "add",
        "output_dir": str(tmp_path / "out"),
        "synthetic": True,
        "datasets": datasets(synth)[:1],
        "models": [model | {"prompt_set": "histology_binary"}],
        "cv": {"k": 2, "seed": 0},
    }
    path = tmp_path / "add.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    assert main(["run", str(path), "--no-report"]) == 0
    runs = tmp_path / "out" / "runs"
    before = {d.name: (d / "predictions.csv").stat().st_mtime_ns for d in runs.iterdir()}
    assert len(before) == 2
    cfg["models"][0]["shots"] = [0, 2]  # not a changed setting: new runs of the grid
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    assert main(["run", str(path), "--no-report"]) == 0
    after = {d.name: (d / "predictions.csv").stat().st_mtime_ns for d in runs.iterdir()}
    assert len(after) == 4 and all(after[k] == v for k, v in before.items())
    assert all(RunKey.parse(k).shots == "2" for k in set(after) - set(before))
