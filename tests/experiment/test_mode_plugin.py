"""A new probe-like mode from one file in the test folder: run -> report -> predict."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.neighbors import NearestCentroid

from breastbench.cli import main
from breastbench.modes import get_mode, is_known, mode_names, registry

PLUGIN = Path(__file__).parent / "modes" / "nearest_median_l1.py"


def test_a_mode_plugin_runs_reports_and_predicts(write_config, tmp_path, load_runs, capsys):
    models = [{"name": "cnn/test-resnet", "label": "cnn", "modes": ["nearest_median_l1", "knn"]}]
    path = write_config(models, k=2, epochs=1)
    raw = yaml.safe_load(path.read_text())
    raw["mode_plugins"] = [os.path.relpath(PLUGIN)]  # resolved against the cwd, as paths are
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    out = tmp_path / "out"
    assert main(["run", str(path), "--no-explain"]) == 0
    assert is_known("nearest_median_l1") and get_mode("nearest_median_l1").source == str(PLUGIN)
    runs = load_runs(out)
    ours = {k: v for k, v in runs.items() if "__nearest_median_l1__" in k}
    assert len(ours) == 2 and len(runs) == 4  # 2 folds of the plugin mode, 2 of kNN
    run_id = next(k for k in ours if k.endswith("fold0"))
    run = ours[run_id]
    assert run["run"]["probe"] == {"metric": "manhattan", "centre": "median"}
    assert run["run"]["input_path"] == "TensorSource"  # fitted on the cached frozen features

    # the reference: scikit-learn's L1 nearest centroid (median centres) on the same features
    feats = np.load(next((out / "cache" / "features").glob("*.npy")))
    manifest = pd.read_csv(out / "manifests" / "breakhis.csv")
    rows = manifest[manifest["magnification"] == 200].reset_index(drop=True)
    assert len(rows) == len(feats)
    test = (rows["fold"] == 0).to_numpy()
    y = rows["target"].to_numpy()
    ref = NearestCentroid(metric="manhattan").fit(feats[~test], y[~test]).predict(feats[test])
    preds = run["predictions"].set_index("path").loc[rows["path"][test]]
    assert (preds["pred"].to_numpy() == ref).all()

    # the report names the mode by its label: a fresh process knows the mode from the folder's
    # experiment.yaml only, so forget it here first
    _forget("nearest_median_l1")
    assert main(["report", str(out), "--no-explain"]) == 0
    html = (out / "report" / "report.html").read_text()
    assert "nearest median (L1)" in html

    # predict refits the mode on the checkpoint's training features (the checkpoint names the
    # plugin file): the run's numbers
    _forget("nearest_median_l1")
    ckpt = out / "runs" / run_id / "checkpoint"
    assert (ckpt / "probe.safetensors").is_file()
    expected = run["predictions"]
    csv = tmp_path / "pred.csv"
    assert main(["predict", str(ckpt), *expected["path"], "-o", str(csv)]) == 0
    got = pd.read_csv(csv).set_index("path").loc[expected["path"]]
    np.testing.assert_allclose(
        got["prob_malignant"].to_numpy(), expected["prob_malignant"].to_numpy(), atol=1e-5
    )
    assert (got["pred_label"].to_numpy() == expected["pred_label"].to_numpy()).all()
    assert is_known("nearest_median_l1")


def _forget(name: str) -> None:
    """Unregister a plugin mode and unload its file, as in a new process."""
    registry._MODES.pop(name)
    for key in [k for k in sys.modules if k.startswith("breastbench_mode_")]:
        del sys.modules[key]
    assert not is_known(name)


def test_a_missing_mode_plugin_is_one_line(write_config, capsys):
    path = write_config([{"name": "cnn/test-resnet", "modes": ["knn"]}], k=2)
    raw = yaml.safe_load(path.read_text())
    raw["mode_plugins"] = ["no_such_mode_file.py"]
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "mode_plugins[0]" in err and "no such file" in err


def test_an_unregistered_mode_keeps_the_literal_style_error(write_config, capsys):
    path = write_config([{"name": "cnn/test-resnet", "modes": ["sleep"]}], k=2)
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    allowed = ", ".join(repr(m) for m in mode_names())
    assert f"models[0].modes[0]: got 'sleep'; allowed: {allowed}" in err


@pytest.mark.parametrize("name", ["knn", "simpleshot", "tuned_probe"])
def test_built_in_probes_are_registry_modes(name):
    mode = get_mode(name)
    assert mode.probe and mode.frozen and mode.state == "linear_probe" and not mode.trains
    assert mode.source is None
