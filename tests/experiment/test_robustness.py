"""Test-time perturbations: the transforms, the runs' perturbed predictions and the analysis."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from breastbench.cli import main
from breastbench.errors import UserError
from breastbench.experiment.robustness import RobustnessConfig
from breastbench.imaging import perturb


def _image(seed=0):
    """A smooth colour image (geometric changes grow with their size on it, unlike noise)."""
    import cv2

    rng = np.random.default_rng(seed)
    low = rng.integers(30, 230, (6, 8, 3)).astype(np.uint8)
    return cv2.resize(low, (256, 192), interpolation=cv2.INTER_CUBIC)


@pytest.mark.parametrize("name", list(perturb.PERTURBATIONS))
def test_each_perturbation_is_seeded_graded_and_identity_at_zero(name):
    img = _image()
    assert perturb.apply(img, name, 0, 0, "a") is img
    one = perturb.apply(img, name, 3, 0, "a")
    assert one.shape == img.shape and one.dtype == np.uint8
    assert not np.array_equal(one, img)
    assert np.array_equal(one, perturb.apply(img.copy(), name, 3, 0, "a"))  # reproducible
    d1 = np.abs(perturb.apply(img, name, 1, 0, "a").astype(int) - img).mean()
    d5 = np.abs(perturb.apply(img, name, 5, 0, "a").astype(int) - img).mean()
    assert d5 > d1  # severity grades the change


def test_draws_depend_on_image_and_seed():
    img = _image()
    a = perturb.apply(img, "noise", 2, 0, "img-1")
    assert not np.array_equal(a, perturb.apply(img, "noise", 2, 0, "img-2"))
    assert not np.array_equal(a, perturb.apply(img, "noise", 2, 1, "img-1"))


def test_hed_space_round_trips_and_jpeg_matches_pillow():
    import io

    from PIL import Image

    img = _image()
    od = -np.log(np.maximum(img.astype(float), 1.0) / 255.0)
    back = 255.0 * np.exp(-((od @ perturb._HED_FROM_RGB) @ perturb._RGB_FROM_HED))
    assert np.abs(back - np.maximum(img, 1)).max() < 1e-6
    # JPEG at quality q: close to Pillow's encoder at the same quality (both libjpeg)
    ours = perturb.apply(img, "jpeg", 4, 0, "k").astype(int)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=20)
    pil = np.asarray(Image.open(buf)).astype(int)
    assert np.abs(ours - pil).mean() < 2.0


def test_config_rejects_unknown_names_and_bad_severities():
    from breastbench.experiment.schema import from_dict

    with pytest.raises(UserError, match=r"robustness.perturbations\[0\]: unknown perturbation"):
        from_dict(RobustnessConfig, {"perturbations": ["smudge"]}, "robustness")
    with pytest.raises(UserError, match=r"robustness.severities\[1\]: severity 6"):
        from_dict(RobustnessConfig, {"severities": [1, 6]}, "robustness")


def _with_robustness(path, section):
    cfg = yaml.safe_load(path.read_text())
    cfg["robustness"] = section
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.mark.slow  # trained runs predicting every perturbation
def test_runs_predict_perturbed_test_folds(write_config, tmp_path, load_runs, capsys):
    cfg = write_config(
        [
            {"name": "cnn/test-resnet", "label": "cnn", "modes": ["finetune", "knn"]},
            {"name": "cnn/test-resnet", "label": "cnn2", "input_size": 48, "modes": ["finetune"]},
        ],
        k=2,
        epochs=1,
    )
    section = {"perturbations": ["blur", "hed", "rotation"], "severities": [0, 2, 5], "seed": 3}
    _with_robustness(cfg, section)
    assert main(["run", str(cfg)]) == 0
    out = tmp_path / "out"
    runs = load_runs(out)
    assert len(runs) == 6
    hashes = {}
    for run_id, run in runs.items():
        folder = out / "runs" / run_id / "robustness"
        names = sorted(p.name for p in folder.glob("*.csv"))
        assert names == sorted(
            f"{n}__s{s}.csv" for n in section["perturbations"] for s in section["severities"]
        )
        own = run["predictions"]
        clean = pd.read_csv(folder / "blur__s0.csv")
        prob_cols = [c for c in own.columns if c.startswith("prob_")]
        # severity 0 goes through the perturbation path and reproduces the run exactly
        assert np.array_equal(clean[prob_cols].to_numpy(), own[prob_cols].to_numpy())
        assert (clean["image_id"] == own["image_id"]).all()
        fold = run_id.rsplit("fold", 1)[1]
        for n in section["perturbations"]:
            for s in (2, 5):
                table = pd.read_csv(folder / f"{n}__s{s}.csv")
                hashes.setdefault((fold, n, s), set()).add(tuple(table["image_hash"]))
    # the same perturbed images reached every model (3 configurations, other input sizes)
    assert all(len(v) == 1 for v in hashes.values())
    assert hashes[("0", "blur", 2)] != hashes[("0", "blur", 5)]
    curves = pd.read_csv(out / "summary" / "robustness.csv")
    auc = pd.read_csv(out / "summary" / "robustness_auc.csv")
    acc = curves[(curves["metric"] == "accuracy") & (curves["perturbation"] == "blur")]
    assert sorted(acc["severity"].unique()) == [0, 2, 5] and (acc["n"] == 2).all()
    agg = pd.read_csv(out / "summary" / "aggregate.csv")
    for cfg_id, g in acc[acc["severity"] == 0].groupby("config_id"):
        clean_mean = agg[(agg["config_id"] == cfg_id) & (agg["metric"] == "accuracy")]["mean"]
        assert g["mean"].iloc[0] == pytest.approx(float(clean_mean.iloc[0]))
    # AUC: trapezoid of the mean curve equals the mean of per-fold AUCs (linear in values)
    one = auc[(auc["metric"] == "accuracy") & (auc["perturbation"] == "blur")].iloc[0]
    curve = acc[acc["config_id"] == one["config_id"]].sort_values("severity")
    expected = np.trapezoid(curve["mean"], curve["severity"]) / 5
    assert one["auc_mean"] == pytest.approx(expected)
    assert (out / "summary" / "robustness_compare.csv").exists()
    worst = pd.read_csv(out / "summary" / "robustness_worst_family.csv")
    assert set(worst["family"]) <= {"colour", "geometric", "acquisition"}
    assert set(worst["model_family"]) == {"cnn"}
    assert main(["report", str(out), "--no-explain"]) == 0
    html = (out / "report" / "report.html").read_text()
    assert "Test-time perturbations" in html and "loses most under" in html
    md = (out / "report" / "report.md").read_text()
    assert "Area under the" in md and "robustness_curves" in md


@pytest.mark.slow  # a trained run, then perturbed predict
def test_predict_applies_a_named_perturbation(write_config, tmp_path, load_runs):
    cfg = write_config([{"name": "cnn/test-resnet", "label": "cnn", "modes": ["finetune"]}], k=2)
    _with_robustness(cfg, {"perturbations": ["noise"], "severities": [4], "seed": 0})
    assert main(["run", str(cfg)]) == 0
    runs = load_runs(tmp_path / "out")
    run_id = next(k for k in runs if k.endswith("fold0"))
    table = pd.read_csv(tmp_path / "out" / "runs" / run_id / "robustness" / "noise__s4.csv")
    ckpt = tmp_path / "out" / "runs" / run_id / "checkpoint"
    got = tmp_path / "p.csv"
    assert main(["predict", str(ckpt), *table["path"], "-o", str(got), "--perturb", "noise:4"]) == 0
    pred = pd.read_csv(got).set_index("path").loc[table["path"]]
    np.testing.assert_allclose(
        pred["prob_malignant"].to_numpy(), table["prob_malignant"].to_numpy(), atol=1e-5
    )
    assert main(["predict", str(ckpt), table["path"][0], "--perturb", "smudge:2"]) == 2


def test_worst_family_skips_metrics_undefined_on_a_test_set():
    from breastbench.results.robustness import worst_family

    auc = pd.DataFrame(
        {
            "config_id": ["x", "x", "y", "y"],
            "model": ["m", "m", "n", "n"],
            "mode": ["finetune"] * 4,
            "model_family": ["cnn"] * 4,
            "metric": ["auc"] * 4,
            "family": ["colour", "geometric"] * 2,
            "drop": [np.nan, np.nan, 0.1, 0.3],
        }
    )
    worst = worst_family(auc)
    assert worst[["config_id", "family"]].values.tolist() == [["y", "geometric"]]


def test_frozen_feature_modes_share_one_feature_cache_per_perturbation(
    write_config, tmp_path, load_runs
):
    """Probe modes of one model and fold encode each perturbed test set once, cache or not alike."""
    models = [{"name": "cnn/test-resnet", "label": "r", "modes": ["linear_probe", "knn"]}]
    section = {"perturbations": ["blur", "noise"], "severities": [2], "seed": 1}
    cfg = write_config(models, k=2, epochs=1)
    _with_robustness(cfg, section)
    out = tmp_path / "out"
    assert main(["run", str(cfg), "--no-report"]) == 0
    features = sorted((out / "cache").rglob("features/*.npy"))
    # the clean feature matrix + one per (fold, perturbation), shared by linear probe and kNN
    assert len(features) == 1 + 2 * 2, features
    assert len(list((out / "cache").rglob("perturbed/*.json"))) == 2 * 2  # image hashes
    cached = {
        rid: pd.read_csv(out / "runs" / rid / "robustness" / "noise__s2.csv")
        for rid in load_runs(out)
    }
    # the same numbers without any cache
    plain = tmp_path / "plain"
    assert main(["run", str(cfg), "--out", str(plain), "--no-report", "--no-cache"]) == 0
    assert not list(plain.rglob("features/*.npy"))
    for rid, table in cached.items():
        again = pd.read_csv(plain / "runs" / rid / "robustness" / "noise__s2.csv")
        pd.testing.assert_frame_equal(table, again)
