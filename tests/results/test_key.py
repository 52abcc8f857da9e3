"""The run key is the one codec of run ids: key -> id -> key is the identity everywhere."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from breastbench.experiment.config import load_config
from breastbench.experiment.grid import expand
from breastbench.results import RunIdError, RunKey, text_tag

CONFIGS = sorted((Path(__file__).parents[2] / "configs").glob("*.yaml"))


def _variants(path: Path, tmp_path: Path) -> list[Path]:
    """The shipped config, plus external seeds, every augmentation preset and text context."""
    raw = yaml.safe_load(path.read_text())
    out = [path]
    v = copy.deepcopy(raw)
    v["augmentation"] = ["off", "on", "color", "geometric"]
    for m in v["models"]:
        if m["name"].startswith("vlm/"):
            m["text_context"] = [None, "Magnification: {magnification}x", "A {dataset} image"]
    ds = [d["name"] for d in v["datasets"]]
    v["external"] = [{"train": ds[0], "test": ds[-1], "seeds": [0, 1, 2]}]
    for d in v["datasets"]:
        d["cross_validate"] = True
    target = tmp_path / f"variant_{path.stem}.yaml"
    target.write_text(yaml.safe_dump(v))
    return out + [target]


def _grids(tmp_path):
    """One grid per shipped config and per variant."""
    return [expand(load_config(v)) for p in CONFIGS for v in _variants(p, tmp_path)]


def test_round_trip_over_every_run_of_every_shipped_config(tmp_path):
    grids = _grids(tmp_path)
    assert sum(map(len, grids)) > 1000
    for specs in grids:
        ids = set()
        for spec in specs:
            key = spec.key
            assert RunKey.parse(key.run_id) == key
            assert RunKey.parse(key.config_id) == key.config
            assert re.fullmatch(r"[A-Za-z0-9._%+-]+", key.run_id.replace("__", "")), key.run_id
            ids.add(key.run_id)
        assert len(ids) == len(specs)  # no two runs of a grid share a folder


def test_configuration_keys_group_folds_and_seeds(tmp_path):
    grids = _grids(tmp_path)
    variants = [g for i, g in enumerate(grids) if i % 2 == 1]
    for specs in grids:
        groups: dict[RunKey, list] = {}
        for spec in specs:
            groups.setdefault(spec.key.config, []).append(spec.key)
        _check_groups(groups)
    groups = {}
    for spec in variants[0]:
        groups.setdefault(spec.key.config, []).append(spec.key)
    ext = [keys for c, keys in groups.items() if c.external]
    assert ext and all(sorted(k.seed for k in keys) == [0, 1, 2] for keys in ext)
    # every augmentation preset and text context is its own configuration
    assert {c.augmentation for c in groups} == {"off", "on", "color", "geometric"}
    assert len({c.text for c in groups}) == 3


def _check_groups(groups):
    for cfg, keys in groups.items():
        assert cfg.fold is None and cfg.seed is None
        axes = {k.replicate[0][0] for k in keys}
        assert len(axes) == 1  # a configuration replicates over folds or over seeds
        if cfg.external:
            assert axes == {"seed"} and len(keys) == len({k.seed for k in keys})
        else:
            assert axes == {"fold"} and len(keys) == len({k.replicate for k in keys})


def test_histopathology_external_block_is_one_configuration_per_model_mode():
    cfg = load_config(next(p for p in CONFIGS if p.stem == "breakhis_cnn_vs_vlm"))
    ext = [s.key for s in expand(cfg) if s.key.external]
    configs = {k.config for k in ext}
    assert len(ext) == 3 * len(configs)  # three seeds each
    assert {(c.model, c.mode) for c in configs} == {("ResNet34", "finetune"), ("SmolVLM", "lora")}


@pytest.mark.parametrize(
    "label",
    ["cnn/resnet34", "a__b", "_x_", "ümlaut model", "50%", "x.y-z+w", "t_e_s_t", "__", "a/b%2F"],
)
def test_free_text_fields_round_trip(label):
    key = RunKey(
        label,
        40,
        label,
        "lora",
        "color",
        text=text_tag("{view}"),
        shots="4",
        external=label,
        seed=3,
        draw=7,
    )
    assert RunKey.parse(key.run_id) == key
    assert "/" not in key.run_id and " " not in key.run_id


def test_old_layout_ids_still_parse():
    key = RunKey.parse("breakhis__40x__ResNet34__finetune__aug-off__ext-bach__seed0")
    assert key.external == "bach" and key.seed == 0 and key.fold is None
    assert RunKey.parse("breakhis__all__M__lora__aug-on__fold4").fold == 4


@pytest.mark.parametrize(
    "bad",
    [
        "x",
        "a__40x__m__lora__noaug",
        "a__40q__m__lora__aug-off",
        "a__40x__m__fly__aug-off",
        "a__40x__m__lora__aug-off__fold1__ext-b",
        "a__40x__m__lora__aug-off__zzz",
    ],
)
def test_non_ids_are_refused(bad):
    with pytest.raises(RunIdError):
        RunKey.parse(bad)


def test_only_patterns_are_case_insensitive_and_match_labels():
    key = RunKey("breakhis", 40, "ResNet34", "finetune", fold=0)
    assert key.matches("*resnet34*fold0") and key.matches("resnet34")
    slash = RunKey("breakhis", 40, "cnn/resnet34", "finetune", fold=0)
    assert slash.matches("*cnn/resnet34*") and not slash.matches("*vgg*")


def test_a_fixed_published_split_is_tested_on_its_test_fold_only(tmp_path):
    raw = yaml.safe_load((Path(__file__).parents[2] / "configs" / "demo.yaml").read_text())
    raw["datasets"][0]["options"] = {"split": "eva"}
    raw["external"] = []
    path = tmp_path / "eva.yaml"
    path.write_text(yaml.safe_dump(raw))
    keys = [s.key for s in expand(load_config(path))]
    assert keys and {k.fold for k in keys} == {0}  # eva's validation patients; trains on fold 1
