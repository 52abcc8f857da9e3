"""The two multi-center study configs: they validate, plan their grids, and run end to end.

As in tests/test_shipped_configs_e2e.py each config is taken as shipped, its roots pointed at
synthetic trees of the sources' real layouts, its models swapped for tiny variants of the same
families under the same labels and its grid shrunk (2 folds, 1 epoch, two perturbations at two
severities). RSNA, CBIS-DDSM and INbreast have no synthetic twin: their entries read
VinDr-layout synthetic trees (source swapped, everything else as shipped); EMBED, mini-MIAS,
BRACS and PCam read twins of their own layouts.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml

from breastbench.cli import main
from breastbench.data import synthesize

CONFIGS = Path(__file__).parents[1] / "configs"
LOSO = ("vindr", "rsna", "cbis-ddsm", "inbreast", "embed")  # density's leave-one-source-out
TINY = {
    "cnn": "cnn/test-resnet",
    "clip": "clip/test-biomedclip",
    "vlm": "vlm/test-smolvlm",
    "vit": "vit/test-uni2-h",
}


def _mias(root: Path) -> Path:
    """A mini-MIAS tree: Info.txt rows and 8-bit PGM films, three tissue classes, 18 films."""
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = []
    for n in range(1, 19):
        tissue = "FGD"[(n - 1) // 2 % 3]
        img = np.clip(rng.normal(60 + 60 * "FGD".index(tissue), 20, (64, 48)), 0, 255)
        cv2.imwrite(str(root / f"mdb{n:03d}.pgm"), img.astype(np.uint8))
        lines.append(f"mdb{n:03d} {tissue} NORM")
    (root / "Info.txt").write_text("\n".join(lines) + "\n")
    return root


def _shrink(raw: dict, out: Path) -> dict:
    raw = dict(raw, output_dir=str(out), synthetic=True)
    for m in raw["models"]:
        m["name"] = TINY[m["name"].split("/")[0]]
        m["weights"] = "random"
        m.pop("input_size", None)
        m.pop("micro_batch_size", None)
        m["options"] = {k: v for k, v in (m.get("options") or {}).items() if k.startswith("lora_")}
    raw["cv"] = {**raw["cv"], "k": 2}
    raw["training"] = {**raw["training"], "epochs": 1, "batch_size": 16, "save_checkpoints": "none"}
    raw["robustness"] = {**raw["robustness"], "severities": [1, 3]}
    raw["robustness"]["perturbations"] = raw["robustness"]["perturbations"][:2]
    for ext in raw["external"]:
        ext["seeds"] = ext["seeds"][:2]
    return raw


@pytest.mark.parametrize(
    ("name", "runs", "configurations", "tests"),
    [
        ("histology_multicenter", 20 + 4 * 3 * 3, 4 + 4 * 3, {"bach", "bracs", "pcam"}),
        (  # CV on VinDr; trained on VinDr, 5 test sets; leave-one-source-out over 5 sources
            "density_multicenter",
            15 + 3 * 5 * 3 + 3 * 5 * 3,
            3 + 3 * 5 + 3 * 5,
            {"vindr", "rsna", "cbis-ddsm", "inbreast", "embed", "mias"},
        ),
    ],
)
def test_multicenter_configs_validate_and_plan(name, runs, configurations, tests, capsys):
    from breastbench.experiment.config import load_config
    from breastbench.experiment.grid import expand

    cfg = load_config(CONFIGS / f"{name}.yaml")
    assert {e.test for e in cfg.external} == tests
    assert all(e.seeds == [0, 1, 2] for e in cfg.external)
    assert {r.key.external for r in expand(cfg)} == {None} | tests
    capsys.readouterr()
    # no data or weights here: the preflight is what `plan` without the flag would list
    assert main(["plan", str(CONFIGS / f"{name}.yaml"), "--json", "--skip-preflight"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["runs"] == runs and len(plan["configurations"]) == configurations
    if name.startswith("density"):
        mias = next(e for e in cfg.external if e.test == "mias")
        assert mias.label_map == {"F": "A", "G": "B", "D": "C"}  # declared, never guessed
        loso = [e for e in cfg.external if e.train.startswith("loso-minus-")]
        assert [(e.train, e.test) for e in loso] == [(f"loso-minus-{s}", s) for s in LOSO]
        for e in loso:  # trained on the four others, pooled
            members = cfg.dataset(e.train).options["members"]
            assert sorted(members) == sorted(set(LOSO) - {e.test})


def _run_and_report(raw: dict, tmp_path: Path, out: Path) -> pd.DataFrame:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(raw, sort_keys=False))
    assert main(["run", str(cfg), "--no-report"]) == 0
    assert main(["report", str(out), "--no-explain"]) == 0
    assert "SYNTHETIC DATA" in (out / "report" / "report.html").read_text()
    return pd.read_csv(out / "summary" / "aggregate.csv")


def _check_external_rows(agg: pd.DataFrame, raw: dict, tests: set[str]) -> None:
    ext = agg[agg["external"].notna() & (agg["metric"] == "accuracy")]
    ext = ext[ext["dataset"].isin({e["train"] for e in raw["external"] if "train" in e})]
    labels = {m["label"] for m in raw["models"]}
    # one row per (configuration, test set), n = the seeds
    assert set(zip(ext["model"], ext["external"])) >= {(m, t) for m in labels for t in tests}
    assert (ext["n"] == 2).all()


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_histology_multicenter_runs_end_to_end(tmp_path, monkeypatch):
    data = tmp_path / "data"
    for var, kind in [
        ("BREAKHIS_ROOT", "synthetic-breakhis"),
        ("BACH_ROOT", "synthetic-bach"),
        ("BRACS_ROOT", "synthetic-bracs"),
        ("PCAM_ROOT", "synthetic-pcam"),
    ]:
        monkeypatch.setenv(var, str(synthesize(kind, data / var.lower())))
    out = tmp_path / "out"
    raw = _shrink(yaml.safe_load((CONFIGS / "histology_multicenter.yaml").read_text()), out)
    # a fine-tuned CNN and a frozen-encoder probe cover both paths; the VLM's LoRA and the
    # second encoder add minutes, not coverage (tests/test_shipped_configs_e2e.py runs LoRA)
    raw["models"] = [m for m in raw["models"] if m["label"] in ("ResNet34", "UNI2-h")]
    agg = _run_and_report(raw, tmp_path, out)
    _check_external_rows(agg, raw, {"bach", "bracs", "pcam"})
    curves = pd.read_csv(out / "summary" / "robustness.csv")
    assert set(curves["perturbation"]) == {"hed", "brightness_contrast"}
    assert set(curves["severity"]) == {0, 1, 3}


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_density_multicenter_runs_end_to_end(tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("VINDR_ROOT", str(synthesize("synthetic-density", data / "vindr")))
    monkeypatch.setenv("EMBED_ROOT", str(synthesize("synthetic-embed", data / "embed")))
    monkeypatch.setenv("MIAS_ROOT", str(_mias(data / "mias")))
    out = tmp_path / "out"
    raw = _shrink(yaml.safe_load((CONFIGS / "density_multicenter.yaml").read_text()), out)
    raw["robustness"].update(perturbations=["gamma"], severities=[2])  # keep it light
    for seed, ds in enumerate(raw["datasets"]):
        if ds["source"] in ("rsna", "cbis-ddsm", "inbreast"):  # no twin: a VinDr-layout tree
            ds["source"] = "synthetic-density"
            ds["root"] = str(synthesize("synthetic-density", data / ds["name"], seed=seed))
            ds.pop("options", None)
    loso = next(e for e in raw["external"] if "leave_one_source_out" in e)
    # one configuration and one seed cover the pooled path (tests/experiment/test_loso.py checks
    # n = seeds); 5 more runs, each on four sources pooled
    # three of the five sources keep CI short (every source's expansion is checked above by
    # test_multicenter_configs_validate_and_plan, and by tests/experiment/test_loso.py)
    held_out = ("vindr", "rsna", "embed")
    loso.update(models=["ConvNeXt"], seeds=[0], leave_one_source_out=list(held_out))
    agg = _run_and_report(raw, tmp_path, out)
    _check_external_rows(agg, raw, {"rsna", "cbis-ddsm", "inbreast", "embed", "mias"})
    pooled = agg[agg["dataset"].str.startswith("loso-minus-") & (agg["metric"] == "accuracy")]
    assert sorted(zip(pooled["model"], pooled["dataset"], pooled["external"])) == sorted(
        ("ConvNeXt", f"loso-minus-{s}", s) for s in held_out
    )
    assert (pooled["n"] == 1).all()
    assert set(pd.read_csv(out / "summary" / "robustness.csv")["perturbation"]) == {"gamma"}
