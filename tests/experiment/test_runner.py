"""End-to-end runner tests on synthetic BreakHis with the tiny models (issue 4 acceptance)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from breastbench.cli import main

ALL_FAMILIES = [
    {"name": "cnn/test-resnet", "label": "cnn", "modes": ["finetune"]},
    {
        "name": "clip/test-biomedclip",
        "label": "clip",
        "modes": ["zero_shot", "linear_probe"],
        "prompt_set": "histology_binary",
    },
    {"name": "vlm/test-smolvlm", "label": "smol", "modes": ["lora"]},
    {"name": "vlm/test-qwen2-vl", "label": "qwen", "modes": ["linear_probe"]},
]


def _sk_binary(pred_df):
    y = pred_df["target"].to_numpy()
    p = pred_df["prob_malignant"].to_numpy()
    yhat = (p >= 0.5).astype(int)
    return {
        "accuracy": skm.accuracy_score(y, yhat),
        "precision": skm.precision_score(y, yhat, zero_division=0),
        "recall": skm.recall_score(y, yhat, zero_division=0),
        "f1": skm.f1_score(y, yhat, zero_division=0),
        "auc": skm.roc_auc_score(y, p),
        "balanced_accuracy": skm.balanced_accuracy_score(y, yhat),
    }


@pytest.mark.slow  # every family and mode, 5 folds, 2 presets
def test_all_modes_all_families_cv_and_external(load_runs, write_config, tmp_path):
    ext = [{"train": "breakhis", "test": "bach", "models": ["cnn"], "augmentation": ["off"]}]
    cfg = write_config(ALL_FAMILIES, aug=("off", "on"), external=ext)
    assert main(["run", "--no-report", str(cfg)]) == 0
    out = tmp_path / "out"
    runs = load_runs(out)
    cv_runs = {k: v for k, v in runs.items() if v["run"]["external"] is None}
    # 4 families: cnn ft (2 aug) + clip zs (1) + clip lp (2) + smol lora (2) + qwen lp (2)
    assert len(cv_runs) == 9 * 5
    by_config: dict[str, list] = {}
    for r in cv_runs.values():
        by_config.setdefault(r["run"]["config_id"], []).append(r["predictions"])
    manifest_ids, n_images = None, 0
    for key, preds in by_config.items():
        assert len(preds) == 5, key
        ids = np.concatenate([p["image_id"].astype(str).to_numpy() for p in preds])
        assert len(ids) == len(set(ids)), f"{key}: an image predicted twice"
        manifest_ids = manifest_ids or set(ids)
        assert set(ids) == manifest_ids, f"{key}: images missing out-of-fold"
        n_images = len(ids)
    assert n_images == 96  # 16 patients x 6 images at 200X
    for rid, r in runs.items():
        expected = _sk_binary(r["predictions"])
        for k, v in expected.items():
            assert r["metrics"][k] == pytest.approx(v, abs=1e-12), (rid, k)
        info = r["run"]
        assert info["versions"]["torch"] and info["git_sha"] and "seed" in info
        assert info["synthetic"] is True and info["random_weights"] is True
    ext_runs = [r for r in runs.values() if r["run"]["external"] == "bach"]
    assert len(ext_runs) == 1 and len(ext_runs[0]["predictions"]) == 40
    # the summary was written and covers every configuration
    assert (out / "summary" / "aggregate.csv").exists()
    assert (out / "summary" / "pooled.csv").exists()
    # the report builds from a real runner output folder
    assert main(["report", str(out), "--no-explain"]) == 0
    assert (out / "report" / "report.html").stat().st_size > 10_000
    comp = (out / "summary" / "comparisons.csv").read_text()
    assert "0.0625" in comp  # the 5-fold Wilcoxon floor is stated


@pytest.mark.slow  # 8 epochs x 5 folds: it must learn
def test_tiny_cnn_learns_and_zero_shot_is_near_chance(load_runs, write_config, tmp_path):
    models = [
        {"name": "cnn/test-resnet", "label": "cnn", "modes": ["finetune"]},
        {
            "name": "clip/test-biomedclip",
            "label": "clip",
            "modes": ["zero_shot"],
            "prompt_set": "histology_binary",
        },
    ]
    cfg = write_config(models, epochs=8)
    assert main(["run", "--no-report", str(cfg)]) == 0
    runs = load_runs(tmp_path / "out")
    acc = {
        m: np.mean([r["metrics"]["accuracy"] for r in runs.values() if r["run"]["model"] == m])
        for m in ("cnn", "clip")
    }
    assert acc["cnn"] >= 0.9
    clip = [r["metrics"]["balanced_accuracy"] for r in runs.values() if r["run"]["model"] == "clip"]
    bal = np.mean(clip)
    assert 0.3 <= bal <= 0.7  # random weights: zero-shot is chance, and reported as such


@pytest.mark.slow  # two trained runs compared
def test_same_seed_gives_identical_metrics(load_runs, write_config, tmp_path):
    models = [{"name": "cnn/test-resnet", "label": "cnn", "modes": ["finetune"]}]
    cfg = write_config(models, aug=("on",), k=2, epochs=2)
    assert main(["run", "--no-report", str(cfg), "--out", str(tmp_path / "a")]) == 0
    assert main(["run", "--no-report", str(cfg), "--out", str(tmp_path / "b")]) == 0
    a, b = load_runs(tmp_path / "a"), load_runs(tmp_path / "b")
    assert a.keys() == b.keys() and len(a) == 2
    for k in a:
        assert a[k]["metrics"] == b[k]["metrics"]
        assert a[k]["predictions"].equals(b[k]["predictions"])


@pytest.mark.slow  # each family trained twice (cached and --no-cache)
@pytest.mark.parametrize(
    "model",
    [
        {"name": "cnn/test-resnet", "label": "m", "modes": ["linear_probe"]},
        {
            "name": "clip/test-biomedclip",
            "label": "m",
            "modes": ["linear_probe"],
            "prompt_set": "histology_binary",
        },
        {"name": "vlm/test-smolvlm", "label": "m", "modes": ["lora"]},
        {"name": "vlm/test-qwen2-vl", "label": "m", "modes": ["lora"]},
    ],
    ids=["cnn-lp", "clip-lp", "smolvlm-lora", "qwen-lora"],
)
def test_cached_path_equals_uncached(load_runs, write_config, tmp_path, model):
    cfg = write_config([model], k=2, epochs=2)
    assert main(["run", "--no-report", str(cfg), "--out", str(tmp_path / "cached")]) == 0
    assert (
        main(["run", "--no-report", str(cfg), "--out", str(tmp_path / "live"), "--no-cache"]) == 0
    )
    cached, live = load_runs(tmp_path / "cached"), load_runs(tmp_path / "live")
    assert cached.keys() == live.keys()
    for k in cached:
        assert cached[k]["run"]["input_path"] == "TensorSource"
        assert live[k]["run"]["input_path"] == "ImageSource"
        for m, v in cached[k]["metrics"].items():
            assert v == pytest.approx(live[k]["metrics"][m], abs=1e-4), (k, m)
        pc = cached[k]["predictions"]["prob_malignant"].to_numpy()
        pl = live[k]["predictions"]["prob_malignant"].to_numpy()
        np.testing.assert_allclose(pc, pl, atol=1e-4)


@pytest.mark.slow  # two trained runs with worker processes
def test_dataloader_workers_give_reproducible_runs(write_config, tmp_path, load_runs):
    models = [{"name": "cnn/test-resnet", "label": "cnn", "modes": ["finetune"]}]
    cfg = write_config(models, aug=("on",), k=2, epochs=2, num_workers=2)
    assert main(["run", "--no-report", str(cfg), "--out", str(tmp_path / "a")]) == 0
    assert main(["run", "--no-report", str(cfg), "--out", str(tmp_path / "b")]) == 0
    a, b = load_runs(tmp_path / "a"), load_runs(tmp_path / "b")
    assert a.keys() == b.keys() and len(a) == 2
    for k in a:
        assert a[k]["predictions"].equals(b[k]["predictions"])
