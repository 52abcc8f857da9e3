"""Explainability maps from saved checkpoints of the tiny test models (no downloads)."""

import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from runfolder import make_run_folder  # noqa: E402

from breastbench.report.collect import collect_runs  # noqa: E402
from breastbench.report.explain import explain  # noqa: E402
from breastbench.report.summary import summarize  # noqa: E402

models = pytest.importorskip("breastbench.models")


def _checkpoint_run(root: Path, run_id: str, model_name: str, mode: str | None = None) -> None:
    """Give one run real images on disk and a saved checkpoint of a tiny model."""
    run = root / "runs" / run_id
    preds = pd.read_csv(run / "predictions.csv")
    img_dir = root / "images"
    img_dir.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for image_id in preds["image_id"]:
        path = img_dir / f"{image_id}.png"
        cv2.imwrite(str(path), rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
        paths.append(str(path))
    preds.assign(path=paths).to_csv(run / "predictions.csv", index=False)
    model = models.create(model_name, num_classes=2)
    if mode is not None:
        model.set_mode(mode)
    models.save_checkpoint(model, run / "checkpoint", classes=["benign", "malignant"])


def test_gradcam_for_cnn_and_saliency_for_vit(tmp_path):
    root = make_run_folder(tmp_path, density=False, external=False)
    _checkpoint_run(
        root, "breakhis_x__40x__cnn%2Ftest_resnet__finetune__aug-off__fold0", "cnn/test-resnet"
    )
    _checkpoint_run(
        root,
        "breakhis_x__40x__clip%2Ftest-biomedclip__lora__aug-off__fold0",
        "clip/test-biomedclip",
    )
    figures, notes = explain(summarize(collect_runs(root)), tmp_path / "figs", per_class=1)
    assert not [n for n in notes if "skipped" in n], notes
    methods = sorted(f.title.split(": ")[-1] for f in figures)
    assert methods == ["Grad-CAM", "gradient × input"]
    for fig in figures:
        assert fig.path.read_bytes()[:4] == b"\x89PNG"


def test_no_checkpoint_is_a_note(tmp_path):
    root = make_run_folder(tmp_path, density=False, external=False)
    figures, notes = explain(summarize(collect_runs(root)), tmp_path / "figs")
    assert figures == [] and "No run saved a checkpoint" in notes[0]


def test_gradcam_on_a_frozen_backbone(tmp_path):
    # linear probing freezes every CNN parameter: Grad-CAM must still get gradients
    root = make_run_folder(tmp_path, density=False, external=False)
    run_id = "breakhis_x__40x__cnn%2Ftest_resnet__finetune__aug-off__fold0"
    _checkpoint_run(root, run_id, "cnn/test-resnet", mode="linear_probe")
    figures, notes = explain(summarize(collect_runs(root)), tmp_path / "figs", per_class=1)
    assert not [n for n in notes if "skipped" in n], notes
    assert [f.title.split(": ")[-1] for f in figures] == ["Grad-CAM"]


def _three_checkpoints(root):
    for rid, name in (
        ("breakhis_x__40x__cnn%2Ftest_resnet__finetune__aug-off__fold0", "cnn/test-resnet"),
        ("breakhis_x__100x__cnn%2Ftest_resnet__finetune__aug-off__fold0", "cnn/test-resnet"),
        ("breakhis_x__40x__clip%2Ftest-biomedclip__lora__aug-off__fold0", "clip/test-biomedclip"),
    ):
        _checkpoint_run(root, rid, name)


def test_default_maps_are_the_reference_pair_never_chosen_on_scores(tmp_path):
    from breastbench.report.html import build_report

    root = make_run_folder(tmp_path / "run", density=False, external=False)
    _three_checkpoints(root)
    page = build_report(root, explain_maps=True).read_text()
    section = page.split('id="explainability"')[1].split("</section>")[0]
    # one CNN and one VLM configuration, each once (its first subset), and why they were chosen
    assert section.count("<figure") == 2
    assert "breakhis_x 40×, augmentation off: cnn/test_resnet fine-tune: Grad-CAM" in section
    assert "clip/test-biomedclip LoRA: gradient × input" in section
    assert "the reference pair" in section and "never chosen on test scores" in section


def test_report_explain_picks_the_named_configurations(tmp_path):
    from breastbench.report.html import build_report

    root = make_run_folder(tmp_path / "run", density=False, external=False)
    _three_checkpoints(root)
    (root / "experiment.yaml").write_text(
        "name: pick\nreport: {explain: ['clip/test-biomedclip:lora']}\n"
    )
    page = build_report(root, explain_maps=True).read_text()
    section = page.split('id="explainability"')[1].split("</section>")[0]
    assert section.count("<figure") == 1
    assert "clip/test-biomedclip LoRA: gradient × input" in section
    assert "named in report.explain (clip/test-biomedclip:lora)" in section


def test_bad_report_explain_is_one_line(tmp_path, capsys):
    from breastbench.cli import main

    root = make_run_folder(tmp_path / "run", density=False, external=False)
    (root / "experiment.yaml").write_text("name: bad\nreport: {explain: [{colour: red}]}\n")
    assert main(["report", str(root), "--no-explain"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "report.explain[0]" in err[0] and "colour" in err[0]
    assert not (root / "report").exists()
