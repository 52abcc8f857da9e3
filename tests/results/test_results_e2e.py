"""The results layer end to end through the CLI: YAML -> run -> summary/ -> report -> predict."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from breastbench.cli import main
from breastbench.report.compare import pair_name
from breastbench.results import CompareSpec, RunFolder, RunKey
from breastbench.results.analysis import write_summary

sys.path.insert(0, str(Path(__file__).parent))
from helpers import datasets, strict_json_files  # noqa: E402

pytestmark = pytest.mark.slow  # the 2-model x 4-preset grid and the shipped external block, trained

ROOT = Path(__file__).parents[2]
TRAINING = {"epochs": 1, "batch_size": 16, "lr": 3.0e-3}


def _write(tmp_path: Path, name: str, cfg: dict) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_histopathology_external_block_gives_n3_and_a_finite_std(tmp_path, synth):
    """The shipped config's external block, unchanged, on synthetic data and tiny models."""
    shipped = yaml.safe_load((ROOT / "configs" / "breakhis_cnn_vs_vlm.yaml").read_text())
    tiny = {"cnn/resnet34": "cnn/test-resnet", "vlm/smolvlm": "vlm/test-smolvlm"}
    models = []
    for m in shipped["models"]:
        if m["name"] in tiny:
            models.append({"name": tiny[m["name"]], "label": m["label"], "modes": m["modes"]})
    block = shipped["external"]
    assert block[0]["seeds"] == [0, 1, 2]
    for m in models:  # the block names registry names; tiny entries answer to their labels
        m["name_for_block"] = m["name"]
    block = [{**block[0], "models": [m["label"] for m in models]}]
    for m in models:
        del m["name_for_block"]
    cfg = {
        "name": "ext",
        "output_dir": str(tmp_path / "out"),
        "synthetic": True,
        "datasets": datasets(synth),
        "models": models,
        "cv": {"k": 2, "seed": 0},
        "training": TRAINING,
        "external": block,
    }
    out = tmp_path / "out"
    assert (
        main(["run", str(_write(tmp_path, "ext", cfg)), "--only", "*ext-bach*", "--no-explain"])
        == 0
    )
    agg = pd.read_csv(out / "summary" / "aggregate.csv")
    ext = agg[agg["external"].notna() & (agg["metric"] == "accuracy")]
    assert sorted(zip(ext["model"], ext["mode"])) == [("ResNet34", "finetune"), ("SmolVLM", "lora")]
    assert (ext["n"] == 3).all() and np.isfinite(ext["std"]).all()
    auc = agg[agg["external"].notna() & (agg["metric"] == "auc")]
    assert np.isfinite(auc["std"]).all()
    table = pd.read_csv(out / "report" / "tables" / "external_validation.csv")
    assert list(table["Seeds (n)"]) == [3, 3]
    assert table["Accuracy"].str.contains("±").all()
    assert strict_json_files(out)


@pytest.fixture(scope="module")
def aug_run(tmp_path_factory, synth):
    """Two models x four augmentation presets; compare: off vs colour only."""
    tmp = tmp_path_factory.mktemp("aug")
    cfg = {
        "name": "aug",
        "output_dir": str(tmp / "out"),
        "synthetic": True,
        "datasets": datasets(synth)[:1],
        "models": [
            {"name": "cnn/test-resnet", "label": "TinyResNet", "modes": ["finetune"]},
            {"name": "clip/test-biomedclip", "label": "TinyCLIP", "modes": ["linear_probe"]},
        ],
        "augmentation": ["off", "on", "color", "geometric"],
        "cv": {"k": 2, "seed": 0},
        "training": TRAINING,
        "compare": {"pairs": [[{"augmentation": "off"}, {"augmentation": "color"}]]},
    }
    assert main(["run", str(_write(tmp, "aug", cfg)), "--no-explain"]) == 0
    return tmp / "out"


def test_every_augmentation_preset_is_its_own_row_everywhere(aug_run):
    agg = pd.read_csv(aug_run / "summary" / "aggregate.csv")
    acc = agg[agg["metric"] == "accuracy"]
    for model in ("TinyResNet", "TinyCLIP"):
        presets = sorted(acc[acc["model"] == model]["augmentation"])
        assert presets == ["color", "geometric", "off", "on"]
    tables = sorted(p.name for p in (aug_run / "report" / "tables").glob("results_*.csv"))
    assert tables == [f"results_breakhis_aug-{a}.csv" for a in ("color", "geometric", "off", "on")]
    for name in tables:
        t = pd.read_csv(aug_run / "report" / "tables" / name)
        assert sorted(t["Model"]) == ["TinyCLIP", "TinyResNet"]  # one row per model per preset
    figures = {p.name for p in (aug_run / "report").rglob("roc_*.png")}
    if not figures:  # figures live inline in the HTML; the markdown names them
        md = (aug_run / "report" / "report.md").read_text()
        for preset in ("off", "on", "color", "geometric"):
            assert f"augmentation {preset}: ROC" in md
    pooled = pd.read_csv(aug_run / "summary" / "pooled.csv")
    assert len(pooled[pooled["level"] == "image"]) == 8


def test_compare_pairs_listed_appear_and_unlisted_do_not(aug_run):
    comp = pd.read_csv(aug_run / "summary" / "comparisons.csv")
    pairs = {
        (
            RunKey.parse(a).augmentation,
            RunKey.parse(b).augmentation,
            RunKey.parse(a).model,
            RunKey.parse(b).model,
        )
        for a, b in zip(comp["config_a"], comp["config_b"])
    }
    assert pairs == {
        ("off", "color", "TinyResNet", "TinyResNet"),
        ("off", "color", "TinyCLIP", "TinyCLIP"),
    }
    assert set(comp["test"]) == {"wilcoxon", "bootstrap"}
    wil = comp[comp["test"] == "wilcoxon"]
    assert (wil["unit"] == "folds").all() and (wil["n"] == 2).all()  # 2 folds, not images
    boot = comp[comp["test"] == "bootstrap"]
    assert (boot["unit"] == "patients").all()
    # the report's paired-statistics table is built from this file, row for row
    report = pd.read_csv(aug_run / "report" / "tables" / "comparisons.csv")
    assert len(report) == len(comp)
    names = list(report["Comparison (A vs B)"])  # in words, each side's subset named
    assert names == [pair_name(a, b, None) for a, b in zip(comp["config_a"], comp["config_b"])]
    assert names[0] == (
        "TinyCLIP linear probe (breakhis 200×, augmentation off) vs "
        "TinyCLIP linear probe (breakhis 200×, augmentation color)"
    )


def test_default_compare_pairs_every_two_configs_of_one_subset(aug_run, tmp_path):
    result = write_summary(aug_run, CompareSpec())  # no compare: section
    comp = result["comparisons"]
    keys = [(RunKey.parse(a), RunKey.parse(b)) for a, b in zip(comp["config_a"], comp["config_b"])]
    assert keys and all(a.augmentation == b.augmentation for a, b in keys)  # within a subset
    assert {(a.model, b.model) for a, b in keys} == {("TinyCLIP", "TinyResNet")}
    assert len({(a, b) for a, b in keys}) == 4  # one pair per preset
    # the analysis records which rule chose the pairs; the report states it
    write_summary(aug_run)  # back to the folder's own compare: section
    analysis = (aug_run / "summary" / "analysis.json").read_text()
    assert '"default_pairs": false' in analysis


def test_unmatched_pair_is_a_note_not_an_error(aug_run):
    spec = CompareSpec(pairs=[["TinyResNet:lora", "TinyCLIP"]])
    result = write_summary(aug_run, spec)
    assert result["comparisons"].empty
    assert "matched no pair" in result["notes"][0]
    write_summary(aug_run)


def test_aggregate_equals_numpy_over_metrics_json(aug_run):
    folder = RunFolder(aug_run)
    runs, problems = folder.collect()
    assert not problems
    agg = pd.read_csv(aug_run / "summary" / "aggregate.csv").set_index(["config_id", "metric"])
    by_cfg: dict = {}
    for r in runs:
        by_cfg.setdefault(r.key.config_id, []).append(r.metrics["auc"])
    for cid, values in by_cfg.items():
        row = agg.loc[(cid, "auc")]
        assert row["mean"] == pytest.approx(np.mean(values))
        assert row["std"] == pytest.approx(np.std(values, ddof=1)) or math.isnan(row["std"])
