"""`breastbench predict` reproduces a run's own test-fold predictions from its checkpoint."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from breastbench.cli import main


@pytest.mark.slow  # a trained run, then predict
def test_predict_matches_the_runs_predictions(write_config, tmp_path, load_runs, capsys):
    cfg = write_config(
        [{"name": "cnn/test-resnet", "label": "cnn", "modes": ["finetune"]}], k=2, epochs=1
    )
    assert main(["run", str(cfg)]) == 0
    runs = load_runs(tmp_path / "out")
    run_id = next(k for k in runs if k.endswith("fold0"))
    expected = runs[run_id]["predictions"]
    ckpt = tmp_path / "out" / "runs" / run_id / "checkpoint"
    assert (ckpt / "model.safetensors").exists() and (ckpt / "meta.json").exists()
    # fold 1 keeps no checkpoint by default (save_checkpoints: first_fold)
    assert not any((tmp_path / "out" / "runs").glob("*fold1/checkpoint"))
    out_csv = tmp_path / "pred.csv"
    assert main(["predict", str(ckpt), *expected["path"], "-o", str(out_csv)]) == 0
    got = pd.read_csv(out_csv).set_index("path").loc[expected["path"]]
    np.testing.assert_allclose(
        got["prob_malignant"].to_numpy(), expected["prob_malignant"].to_numpy(), atol=1e-5
    )
    assert (got["pred_label"].to_numpy() == expected["pred_label"].to_numpy()).all()


def test_predict_bad_inputs_one_line(tmp_path, capsys):
    assert main(["predict", str(tmp_path), "x.png"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a breastbench checkpoint" in err
