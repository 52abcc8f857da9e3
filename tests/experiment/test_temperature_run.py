"""``calibration: [none, temperature]`` end to end: T sees validation rows only; predict uses it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from breastbench.cli import main
from breastbench.experiment import runner
from breastbench.experiment.config import load_config
from breastbench.experiment.grid import expand

MODELS = [
    {"name": "cnn/test-resnet", "label": "cnn", "modes": ["finetune"]},
    {"name": "clip/test-biomedclip", "label": "clip", "modes": ["knn"]},
]


def _poison_fold0(monkeypatch):
    """Flip every fold-0 label after the folds are assigned: fold 0's test rows only."""
    real = runner.prepare_manifests

    def poisoned(cfg, out_dir, console=None):
        manifests = real(cfg, out_dir, console)
        df = manifests["breakhis"]
        classes = list(df.attrs["classes"])
        test = df["fold"] == 0
        df.loc[test, "target"] = 1 - df.loc[test, "target"]
        df.loc[test, "label"] = df.loc[test, "target"].map(dict(enumerate(classes)))
        return manifests

    monkeypatch.setattr(runner, "prepare_manifests", poisoned)


def _scaled_fold0(out):
    """(run id -> (T, n_val, predictions, metrics)) of the temperature-scaled fold-0 runs."""
    got = {}
    for info_path in sorted((out / "runs").glob("*cal-temperature__fold0/run.json")):
        info = json.loads(info_path.read_text())
        metrics = json.loads((info_path.parent / "metrics.json").read_text())
        preds = pd.read_csv(info_path.parent / "predictions.csv")
        got[info_path.parent.name] = (info["temperature"], preds, metrics)
    return got


@pytest.mark.slow
def test_poisoned_test_labels_leave_t_and_the_scaled_probabilities_unchanged(
    write_config, tmp_path, monkeypatch
):
    cfg = write_config(MODELS, k=2, val_fraction=0.34, calibration=None)
    _with_calibration(cfg, ["temperature"])
    only = ["--only", "*cal-temperature__fold0", "--no-report"]
    assert main(["run", str(cfg), "--out", str(tmp_path / "clean"), *only]) == 0
    _poison_fold0(monkeypatch)
    assert main(["run", str(cfg), "--out", str(tmp_path / "poisoned"), *only]) == 0
    clean, poisoned = _scaled_fold0(tmp_path / "clean"), _scaled_fold0(tmp_path / "poisoned")
    assert len(clean) == 2 and clean.keys() == poisoned.keys()
    for run_id, (record, preds, metrics) in clean.items():
        p_record, p_preds, p_metrics = poisoned[run_id]
        assert record["temperature"] == p_record["temperature"]  # bit for bit
        assert record["n_val"] == p_record["n_val"] > 0
        assert record["model"] == "its own fit (same seed)"  # --only picked no raw twin
        prob_cols = [c for c in preds.columns if c.startswith("prob_")]
        pd.testing.assert_frame_equal(preds[prob_cols], p_preds[prob_cols])
        # the poison did reach the test rows: their labels, hence the metrics, differ
        assert (preds["target"] != p_preds["target"]).all()
        assert metrics["nll"] != p_metrics["nll"]
    # a probe's checkpoint carries T too: predict refits kNN and scales its log-probabilities
    knn_id = next(r for r in clean if "__clip__knn__" in r)
    preds = clean[knn_id][1]
    ckpt = tmp_path / "clean" / "runs" / knn_id / "checkpoint"
    out_csv = tmp_path / "knn.csv"
    assert main(["predict", str(ckpt), *preds["path"], "-o", str(out_csv)]) == 0
    got = pd.read_csv(out_csv).set_index("path").loc[preds["path"]]
    np.testing.assert_allclose(got["prob_malignant"], preds["prob_malignant"], atol=1e-5)


def _with_calibration(cfg_path, methods, compare=None):
    import yaml

    data = yaml.safe_load(cfg_path.read_text())
    data["calibration"] = methods
    if compare is not None:
        data["compare"] = compare
    data["training"].pop("calibration", None)
    cfg_path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.mark.slow
def test_run_report_predict_with_a_temperature_scaled_twin(write_config, tmp_path, capsys):
    cfg = write_config(MODELS[:1], k=2, val_fraction=0.34)
    pair = [{"calibration": "temperature"}, {"calibration": "none"}]
    _with_calibration(cfg, ["none", "temperature"], {"metrics": ["ece", "nll"], "pairs": [pair]})
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--out", str(out), "--only", "*fold0"]) == 0
    term = capsys.readouterr()
    assert "fine-tune (temperature-scaled)" in term.out + term.err
    raw_id = "breakhis__200x__cnn__finetune__aug-off__fold0"
    cal_id = "breakhis__200x__cnn__finetune__aug-off__cal-temperature__fold0"
    raw = pd.read_csv(out / "runs" / raw_id / "predictions.csv")
    cal = pd.read_csv(out / "runs" / cal_id / "predictions.csv")
    info = json.loads((out / "runs" / cal_id / "run.json").read_text())
    assert "temperature" not in json.loads((out / "runs" / raw_id / "run.json").read_text())
    t = info["temperature"]["temperature"]
    assert info["temperature"]["model"] == f"the fit of {raw_id}"  # not trained twice
    assert t > 0 and info["temperature"]["n_val"] == info["n_val"] > 0
    # the same model: the scaled probabilities are sigmoid(logit / T) of the raw ones
    logit = np.log(raw["prob_malignant"]) - np.log(raw["prob_benign"])
    np.testing.assert_allclose(
        cal["prob_malignant"], 1 / (1 + np.exp(-logit / t)), rtol=1e-4, atol=1e-6
    )
    # raw and scaled rows sit side by side in the summary and the report, in words
    agg = pd.read_csv(out / "summary" / "aggregate.csv")
    assert {raw_id.rsplit("__", 1)[0], cal_id.rsplit("__", 1)[0]} <= set(agg["config_id"])
    comp = pd.read_csv(out / "summary" / "comparisons.csv")
    assert set(comp["config_a"]) == {cal_id.rsplit("__", 1)[0]}
    assert set(comp["config_b"]) == {raw_id.rsplit("__", 1)[0]}
    assert set(comp["metric"]) == {"ece", "nll"}
    report = (out / "report" / "report.md").read_text()
    assert "fine-tune (temperature-scaled)" in report and "cal-temperature" not in report
    # predict on the scaled run's checkpoint divides the logits by the same T
    pred_csv = tmp_path / "pred.csv"
    ckpt = out / "runs" / cal_id / "checkpoint"
    assert main(["predict", str(ckpt), *cal["path"], "-o", str(pred_csv)]) == 0
    got = pd.read_csv(pred_csv).set_index("path").loc[cal["path"]]
    np.testing.assert_allclose(got["prob_malignant"], cal["prob_malignant"], atol=1e-5)
    assert not np.allclose(got["prob_malignant"], raw["prob_malignant"], atol=1e-3)


def test_temperature_without_a_validation_split_is_one_line(write_config, tmp_path, capsys):
    cfg = write_config(MODELS[:1], k=2)
    _with_calibration(cfg, ["none", "temperature"])
    assert main(["run", str(cfg), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "calibration" in err and "training.val_fraction" in err
    assert not (tmp_path / "out").exists()


def test_the_axis_leaves_raw_ids_alone_and_skips_runs_without_validation(write_config):
    external = [{"train": "breakhis", "test": "bach"}]
    path = write_config(MODELS, k=2, val_fraction=0.25, external=external)
    import yaml

    data = yaml.safe_load(path.read_text())
    data["label_efficiency"] = {"shots": [1, "all"], "draws": 2, "modes": ["knn"]}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    raw = [r.run_id for r in expand(load_config(path))]
    _with_calibration(path, ["none", "temperature"])
    both = expand(load_config(path))
    assert [r.run_id for r in both if r.key.calibration is None] == raw
    assert all("cal-" not in r for r in raw)
    scaled = [r for r in both if r.key.calibration == "temperature"]
    # label-efficiency support sets have no inner validation split: they stay raw
    assert any(r.key.shots is not None for r in both)
    assert not any(r.key.shots is not None for r in scaled)
    plain = [r for r in raw if "__shots-" not in r]
    assert len(scaled) == len(plain) and all("__cal-temperature" in r.run_id for r in scaled)
    assert any(r.key.external == "bach" for r in scaled)  # external validations are scaled too
    from breastbench.results import RunKey

    assert all(RunKey.parse(r.run_id) == r.key for r in both)
    assert all("calibration" not in RunKey.parse(r).to_dict() for r in raw)


def test_scaled_configurations_enter_comparisons_only_when_named():
    from breastbench.results import RunKey
    from breastbench.results.comparisons import select_pairs
    from breastbench.results.spec import CompareSpec

    def key(model, cal=None):
        return RunKey("breakhis", 200, model, "finetune", calibration=cal)

    configs = [key("a"), key("b"), key("a", "temperature"), key("b", "temperature")]
    default, _ = select_pairs(configs, CompareSpec(), order=configs)
    assert [(a.model, b.model) for a, b, *_ in default] == [("b", "a")]
    assert all(a.calibration is None and b.calibration is None for a, b, *_ in default)
    named = CompareSpec(pairs=[[{"calibration": "temperature"}, {"calibration": "none"}]])
    pairs, _ = select_pairs(configs, named, order=configs)
    got = {(a.model, a.calibration, b.model, b.calibration) for a, b, *_ in pairs}
    assert got == {("a", "temperature", "a", None), ("b", "temperature", "b", None)}
