"""kNN, SimpleShot, the tuned probe and label-efficiency curves, end to end through the CLI."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.neighbors import KNeighborsClassifier

from breastbench.cli import main
from breastbench.results import RunKey

sys.path.insert(0, str(Path(__file__).parent))
from helpers import datasets, strict_json_files  # noqa: E402

pytestmark = pytest.mark.slow  # every probe and learning-curve protocol, trained


def test_probes_and_learning_curves(tmp_path, synth):
    cfg = {
        "name": "le",
        "output_dir": str(tmp_path / "out"),
        "synthetic": True,
        "datasets": datasets(synth)[:1],
        "models": [
            {
                "name": "cnn/test-resnet",
                "label": "cnn",
                "modes": ["knn", "simpleshot", "tuned_probe"],
            },
            {"name": "clip/test-biomedclip", "label": "clip", "modes": ["knn"]},
        ],
        "cv": {"k": 2, "seed": 0},
        "training": {"epochs": 1, "batch_size": 16, "lr": 3e-3},
        "label_efficiency": {"shots": [1, 2, "all"], "draws": 2, "modes": ["linear_probe", "knn"]},
    }
    path = tmp_path / "le.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    out = tmp_path / "out"
    assert main(["run", str(path), "--no-explain"]) == 0
    runs = {d.name: d for d in (out / "runs").iterdir() if (d / "metrics.json").exists()}
    # 4 whole-fold probe configs x 2 folds + 2 models x 2 modes x (2 shots x 2 draws + all) x 2
    assert len(runs) == 4 * 2 + 2 * 2 * (2 * 2 + 1) * 2
    # kNN equals scikit-learn on the same cached features
    knn = next(d for n, d in runs.items() if "__cnn__knn__" in n and "shots" not in n)
    info = json.loads((knn / "run.json").read_text())
    feats = sorted((out / "cache" / "features").glob("*.npy"))
    manifest = pd.read_csv(out / "manifests" / "breakhis.csv")
    sub = manifest[manifest["magnification"] == 200].reset_index(drop=True)
    fold = info["fold"]
    tr, te = np.flatnonzero(sub["fold"] != fold), np.flatnonzero(sub["fold"] == fold)
    preds = pd.read_csv(knn / "predictions.csv")
    matched = False
    for f in feats:  # the cnn's feature cache is the one whose size fits
        x = np.load(f)
        if x.shape[0] != len(sub):
            continue
        ref = KNeighborsClassifier(
            n_neighbors=info["probe"]["k"], metric="cosine", algorithm="brute"
        ).fit(x[tr], sub["target"][tr])
        p = ref.predict_proba(x[te])[:, 1]
        if np.allclose(p, preds["prob_malignant"].to_numpy(), atol=1e-6):
            matched = True
    assert matched
    tuned = next(d for n, d in runs.items() if "tuned_probe" in n)
    assert json.loads((tuned / "run.json").read_text())["probe"]["chosen_C"] > 0
    # support sets: k patients per class, never a test-fold patient, same draws for every model
    for name, d in runs.items():
        key = RunKey.parse(name)
        if key.shots in (None, "all"):
            continue
        run = json.loads((d / "run.json").read_text())
        assert run["support"]["patients"] == 2 * int(key.shots)
    # the learning curve is in the report with n per point
    table = pd.read_csv(out / "report" / "tables" / "label_efficiency.csv")
    assert set(table["Patients per class"].astype(str)) == {"1", "2", "all"}
    # n counts independent test sets: 2 draws share their fold's test set, so n = 2 folds
    assert set(table.loc[table["Patients per class"].astype(str) == "1", "n"]) == {2}
    agg = pd.read_csv(out / "summary" / "aggregate.csv")
    one_shot = agg[agg["shots"].astype(str) == "1"]
    assert (one_shot["n"] <= 2).all() and (one_shot["unit"] == "folds").all()
    bounded = agg[agg["ci_method"].fillna("").str.startswith("logit")]
    assert len(bounded) and (bounded["ci_low"] >= 0).all() and (bounded["ci_high"] <= 1).all()
    # kNN on a 1-shot support: k recorded, at most the smallest class, never a constant vote
    for name, d in runs.items():
        key = RunKey.parse(name)
        run = json.loads((d / "run.json").read_text())
        metrics = json.loads((d / "metrics.json").read_text())
        assert {"ece", "ece_equal_mass", "mce", "brier", "nll"} <= set(metrics)
        assert run["calibration"]["bins"] == 15
        if key.mode == "simpleshot":
            assert run["probe"]["temperature"] == 0.1
        if key.mode == "knn" and key.shots == "1":
            support = run["support"]
            assert 1 <= run["probe"]["k"] <= 20 and "smallest class" in run["probe"]["k_rule"]
            prob = pd.read_csv(d / "predictions.csv")["prob_malignant"]
            assert prob.nunique() > 1, (name, support)
    assert "label efficiency" in (out / "report" / "report.md").read_text()
    assert strict_json_files(out)
