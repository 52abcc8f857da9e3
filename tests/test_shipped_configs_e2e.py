"""Both shipped study configs run end to end: run -> report, on trees of their real layout.

Each config is taken as shipped, its roots pointed (through the environment variables it
documents) at synthetic trees in the source's real layout, its models swapped for the tiny
variants of the same families under the same labels, and its grid shrunk (2 folds, 1 epoch,
one magnification) so CI can afford it. Everything else (sources, tasks, modes, augmentation,
external block, prompts) is the shipped text.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from breastbench.cli import main
from breastbench.data import synthesize

pytestmark = pytest.mark.slow  # each shipped study config trained and reported

CONFIGS = Path(__file__).parents[1] / "configs"
TINY = {"cnn": "cnn/test-resnet", "clip": "clip/test-biomedclip"}
TINY_VLM = {"vlm/qwen2-vl-2b": "vlm/test-qwen2-vl", "vlm/smolvlm": "vlm/test-smolvlm"}


def _shrink(raw: dict, out: Path) -> dict:
    raw = dict(raw, output_dir=str(out))
    label_of = {m["name"]: m.get("label", m["name"]) for m in raw["models"]}
    for ext in raw.get("external", []):  # the block names registry names: keep what it meant
        ext["models"] = [label_of.get(n, n) for n in ext.get("models") or []] or None
    used: dict[str, int] = {}
    for m in raw["models"]:
        family = m["name"].split("/")[0]
        m["name"] = TINY_VLM.get(m["name"]) or TINY[family]
        m["weights"] = "random"
        m.pop("input_size", None)
        # three CNNs become one tiny model: a distinct input size keeps them distinct entries
        # (an exact duplicate entry is refused as a mistake)
        if family == "cnn" and used.setdefault(m["name"], 0):
            m["input_size"] = 64 + 8 * used[m["name"]]
        used[m["name"]] = used.get(m["name"], 0) + 1
        m.pop("micro_batch_size", None)
        opts = {k: v for k, v in (m.get("options") or {}).items() if k.startswith("lora_")}
        m["options"] = opts
    for d in raw["datasets"]:
        if d.get("magnifications"):
            d["magnifications"] = [200]
    raw["cv"] = {**raw["cv"], "k": 2}
    raw["training"] = {**raw["training"], "epochs": 1, "batch_size": 16, "save_checkpoints": "none"}
    raw["synthetic"] = True
    return raw


@pytest.mark.parametrize("name", ["breakhis_cnn_vs_vlm", "density_convnext_vs_biomedclip"])
def test_shipped_study_config_runs_and_reports(name, tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("BREAKHIS_ROOT", str(synthesize("synthetic-breakhis", data / "bh")))
    monkeypatch.setenv("BACH_ROOT", str(synthesize("synthetic-bach", data / "bach")))
    monkeypatch.setenv("VINDR_ROOT", str(synthesize("synthetic-density", data / "vindr")))
    raw = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    n_models = len(raw["models"])
    cfg = tmp_path / f"{name}.yaml"
    out = tmp_path / "out"
    cfg.write_text(yaml.safe_dump(_shrink(raw, out), sort_keys=False))
    assert main(["run", str(cfg), "--no-report"]) == 0
    assert main(["report", str(out), "--no-explain"]) == 0
    html = (out / "report" / "report.html").read_text()
    assert "SYNTHETIC DATA" in html
    agg = pd.read_csv(out / "summary" / "aggregate.csv")
    assert agg["model"].nunique() == n_models  # every model entry, under its own label
    assert (agg["n"] > 0).all()
    from breastbench.metrics.stats import metric_bounds

    for metric, part in agg.groupby("metric"):  # every bounded metric's interval stays in range
        bounds = metric_bounds(metric)
        if bounds is not None:
            ok = part.dropna(subset=["ci_low"])
            assert (ok["ci_low"] >= bounds[0]).all() and (ok["ci_high"] <= bounds[1]).all()
    if name.startswith("breakhis"):
        ext = agg[agg["external"].notna() & (agg["metric"] == "accuracy")]
        assert len(ext) == 2 and (ext["n"] == 3).all()  # the shipped three seeds
        assert "External validation" in html
    else:
        assert "kappa_quadratic" in set(agg["metric"])
        pooled = pd.read_csv(out / "summary" / "pooled.csv")
        assert {"image", "breast", "patient"} <= set(pooled["level"])  # one decision per breast
