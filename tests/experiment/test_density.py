"""The density path end to end: BI-RADS A-D from DICOM, multi-class heads, ordinal metrics."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from sklearn import metrics as skm

from breastbench.cli import main
from breastbench.data import synthesize

pytestmark = pytest.mark.slow  # a 4-class density study trained end to end


def test_density_experiment_multiclass(tmp_path, load_runs):
    root = synthesize("synthetic-density", tmp_path / "density", seed=0)
    cfg = {
        "output_dir": str(tmp_path / "out"),
        "synthetic": True,
        "datasets": [{"name": "density", "source": "synthetic-density", "root": str(root)}],
        "models": [
            {"name": "cnn/test-resnet", "label": "convnext", "modes": ["finetune"]},
            {
                "name": "clip/test-biomedclip",
                "label": "clip",
                "modes": ["zero_shot", "linear_probe"],
                "prompt_set": "density",
                "init_head_from_text": True,
            },
        ],
        "cv": {"k": 3},
        "training": {"epochs": 2, "batch_size": 16, "lr": 3e-3, "class_weights": True},
    }
    path = tmp_path / "density.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["run", "--no-report", str(path)]) == 0
    runs = load_runs(tmp_path / "out")
    assert len(runs) == 3 * 3
    for r in runs.values():
        p = r["predictions"]
        probs = p[[f"prob_{c}" for c in "ABCD"]].to_numpy()
        np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-5)
        y, yhat = p["target"].to_numpy(), probs.argmax(1)
        m = r["metrics"]
        assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, yhat))
        assert m["f1_macro"] == pytest.approx(skm.f1_score(y, yhat, average="macro"))
        kappa = skm.cohen_kappa_score(y, yhat, weights="quadratic")
        assert m["kappa_quadratic"] == pytest.approx(kappa) or np.isnan(m["kappa_quadratic"])
        if len(set(y)) == 4:
            auc = skm.roc_auc_score(y, probs, multi_class="ovr", average="macro")
            assert m["auc_ovr_macro"] == pytest.approx(auc)
        assert r["run"]["classes"] == ["A", "B", "C", "D"]
    assert main(["report", str(tmp_path / "out"), "--no-explain"]) == 0
    html = (tmp_path / "out" / "report" / "report.html").read_text()
    assert "kappa" in html.lower()
