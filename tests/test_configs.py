"""Every shipped experiment file loads, validates, and names only registered models/modes."""

from __future__ import annotations

from pathlib import Path

import pytest

from breastbench.experiment.config import load_config
from breastbench.experiment.grid import expand
from breastbench.experiment.runner import check_models

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def test_the_studies_and_the_demo_are_shipped():
    names = {p.name for p in CONFIGS}
    assert {
        "breakhis_cnn_vs_vlm.yaml",
        "density_convnext_vs_biomedclip.yaml",
        "demo.yaml",
    } <= names


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_config_validates(path, monkeypatch, tmp_path):
    for var in ("BREAKHIS_ROOT", "BACH_ROOT", "VINDR_ROOT", "BREASTBENCH_DATA"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    cfg = load_config(path)
    check_models(cfg)
    runs = expand(cfg)
    assert runs and len({r.run_id for r in runs}) == len(runs)


def test_breakhis_study_grid_matches_the_paper():
    cfg = load_config(CONFIGS[0].parent / "breakhis_cnn_vs_vlm.yaml")
    cv = [r for r in expand(cfg) if r.key.external is None]
    # (3 CNNs x finetune + 2 VLMs x {linear probe, LoRA}) x 4 magnifications x 2 aug x 5 folds
    assert len(cv) == 7 * 4 * 2 * 5
    assert cfg.training.epochs == 20 and cfg.training.batch_size == 64
    assert cfg.training.lr == pytest.approx(1e-4) and cfg.cv.k == 5
    smol = next(m for m in cfg.models if m.name == "vlm/smolvlm")
    assert smol.micro_batch_size == 8  # 8 x 8 accumulation = 64 (Section 3.5)
    assert smol.options["lora_r"] == 16 and smol.options["lora_alpha"] == 32
    assert {r.key.external for r in expand(cfg)} == {None, "bach"}


def test_sweep_of_three_lora_ranks_gives_three_configurations(tmp_path):
    import yaml

    raw = yaml.safe_load((CONFIGS[0].parent / "demo.yaml").read_text())
    raw["models"] = [
        {
            "name": "vlm/test-smolvlm",
            "label": "S",
            "modes": ["lora"],
            "sweep": {"lora_r": [2, 4, 8], "lr": [1e-3]},
        }
    ]
    raw["external"] = []
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    cfg = load_config(path)
    assert [m.display for m in cfg.models] == [
        "S[lora_r=2,lr=0.001]",
        "S[lora_r=4,lr=0.001]",
        "S[lora_r=8,lr=0.001]",
    ]
    assert [m.options["lora_r"] for m in cfg.models] == [2, 4, 8] and cfg.models[0].lr == 1e-3
    configs = {r.key.config for r in expand(cfg)}
    assert len({c.model for c in configs}) == 3


def test_label_efficiency_grid():
    cfg = load_config(CONFIGS[0].parent / "label_efficiency.yaml")
    runs = expand(cfg)
    probes = [r for r in runs if r.key.shots is None and r.key.mode != "zero_shot"]
    curve = [r for r in runs if r.key.shots is not None and r.key.mode != "zero_shot"]
    assert len(probes) == 5 * 3 * 5  # 5 models x (knn, simpleshot, tuned) x 5 folds
    # 5 models x 3 curve modes x (6 shot counts x 10 draws + all) x 5 folds
    assert len(curve) == 5 * 3 * (6 * 10 + 1) * 5
    assert {r.key.draw for r in curve} == set(range(10))
    # generative VLMs: zero-shot x 5 folds, and 2-shot in-context x 5 folds x the 10 draws
    zero = [r for r in runs if r.key.mode == "zero_shot"]
    assert {r.key.model for r in zero} == {"Qwen2-VL-2B", "SmolVLM"}
    assert len([r for r in zero if r.key.shots is None]) == 2 * 5
    assert len([r for r in zero if r.key.shots == "2"]) == 2 * 5 * 10
    assert len(runs) == 4650 + 2 * 5 + 2 * 5 * 10
    # a k-shot prompt and the k-shot probes of one draw share their support patients
    keys = {(r.key.model, r.key.fold, r.key.draw) for r in zero if r.key.shots == "2"}
    assert keys <= {(r.key.model, r.key.fold, r.key.draw) for r in curve if r.key.shots == "2"}


def test_followup_study_grid():
    cfg = load_config(CONFIGS[0].parent / "followup_vlm_adaptation.yaml")
    labels = [m.display for m in cfg.models]
    # sweeps expand into labelled configurations
    assert [x for x in labels if x.startswith("Qwen2-VL-2B")] == [
        "Qwen2-VL-2B[lora_scope=decoder]",
        "Qwen2-VL-2B[lora_scope=vision]",
        "Qwen2-VL-2B[lora_scope=all]",
    ]
    assert cfg.models[3].options["lora_scope"] == "decoder"
    runs = expand(cfg)
    cv = [r for r in runs if r.key.external is None]
    # 10 model entries + SmolVLM's text-context twin, x 2 magnifications x 3 presets x 5 folds
    assert len(cv) == (10 + 1) * 2 * 3 * 5
    assert len([r for r in runs if r.key.external]) == 3 * 2 * 3  # 3 models x 2 mags x 3 seeds
    assert {r.key.augmentation for r in runs} == {"off", "color", "geometric"}
    assert len({r.text for r in runs}) == 2
