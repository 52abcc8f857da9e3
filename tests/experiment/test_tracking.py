"""Optional trackers read back by their own readers; a missing or failing one never stops a run."""

from __future__ import annotations

import json

import pytest
import yaml

from breastbench.cli import main

MODELS = [{"name": "cnn/test-resnet", "label": "cnn", "modes": ["finetune"]}]


def tracked_config(write_config, trackers):
    path = write_config(MODELS, k=2, epochs=2, name="tracked")
    data = yaml.safe_load(path.read_text())
    data["tracking"] = trackers
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.slow  # a trained run logged to both trackers
def test_mlflow_and_tensorboard_read_back(write_config, tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    event_accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator"
    )
    cfg = tracked_config(write_config, ["mlflow", "tensorboard"])
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out), "--no-report"]) == 0
    run_ids = sorted(p.parent.name for p in (out / "runs").glob("*/metrics.json"))
    assert len(run_ids) == 2

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow.set_tracking_uri((out / "mlruns").as_uri())
    runs = mlflow.search_runs(experiment_names=["tracked"])
    assert sorted(runs["tags.mlflow.runName"]) == sorted([*run_ids, "summary"])
    client = mlflow.tracking.MlflowClient()
    for run_id in run_ids:
        row = runs[runs["tags.mlflow.runName"] == run_id].iloc[0]
        metrics = json.loads((out / "runs" / run_id / "metrics.json").read_text())
        assert row["metrics.accuracy"] == pytest.approx(metrics["accuracy"])
        assert row["metrics.auc"] == pytest.approx(metrics["auc"])
        assert row["params.training.epochs"] == "2" and row["params.key.mode"] == "finetune"
        history = [m.value for m in client.get_metric_history(row["run_id"], "train_loss")]
        with open(out / "runs" / run_id / "history.csv") as f:
            import pandas as pd

            assert history == pytest.approx(pd.read_csv(f)["train_loss"].tolist())
        artifacts = {a.path for a in client.list_artifacts(row["run_id"])}
        assert {"metrics.json", "run.json", "history.csv"} <= artifacts
    summary = runs[runs["tags.mlflow.runName"] == "summary"].iloc[0]["run_id"]
    assert "aggregate.csv" in {a.path for a in client.list_artifacts(summary)}

    for run_id in run_ids:
        acc = event_accumulator.EventAccumulator(str(out / "tensorboard" / run_id))
        acc.Reload()
        assert [e.step for e in acc.Scalars("train_loss")] == [1, 2]
        assert "final/accuracy" in acc.Tags()["scalars"]


@pytest.mark.slow  # a trained run with failing trackers
def test_a_missing_or_failing_tracker_never_stops_the_run(
    write_config, tmp_path, capsys, monkeypatch
):
    from breastbench.experiment import tracking

    class Missing:
        def __init__(self, *a):
            raise ImportError("no module", name="mlflow")

    class Broken(tracking.TensorBoardSink):
        def __init__(self, *a):
            self.writers = {}

        def start(self, run_id, params):
            raise OSError("disk full")

    monkeypatch.setitem(tracking.SINKS, "mlflow", Missing)
    monkeypatch.setitem(tracking.SINKS, "tensorboard", Broken)
    cfg = tracked_config(write_config, ["mlflow", "tensorboard"])
    assert main(["run", str(cfg), "--out", str(tmp_path / "o"), "--no-report"]) == 0
    err = capsys.readouterr().err
    assert "tracking: mlflow is not installed (mlflow; pip install 'breastbench[tracking]')" in err
    assert "tracking: tensorboard failed in start (OSError: disk full); switched off" in err
    assert len(list((tmp_path / "o" / "runs").glob("*/metrics.json"))) == 2
