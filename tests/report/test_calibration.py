"""The calibration and subgroup section draws summary/reliability.csv and subgroups.csv."""

import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).parent))

from runfolder import make_run_folder  # noqa: E402

from breastbench.report.html import build_report  # noqa: E402
from breastbench.results.analysis import write_summary  # noqa: E402

CNN = "breakhis_x__40x__cnn%2Ftest_resnet__finetune__aug-off"
VLM = "breakhis_x__40x__clip%2Ftest-biomedclip__lora__aug-off"


def test_absent_files_give_one_line_each(tmp_path):
    root = make_run_folder(tmp_path / "run", density=False, external=False)
    write_summary(root)
    # an older analysis wrote no reliability.csv: the section says so in one line
    (root / "summary" / "reliability.csv").unlink()
    page = build_report(root, explain_maps=False, analyse=False).read_text()
    section = page.split('id="calibration"')[1].split("</section>")[0]
    assert section.count("No summary/reliability.csv") == 1
    # no subgroup columns in this manifest: one line says so
    assert section.count("No summary/subgroups.csv") == 1
    # the analysis of a fresh run folder writes reliability.csv itself
    fresh = make_run_folder(tmp_path / "fresh", density=False, external=False)
    build_report(fresh, explain_maps=False)
    assert (fresh / "summary" / "reliability.csv").is_file()


def test_reliability_and_subgroups_are_drawn_from_summary(tmp_path):
    root = make_run_folder(tmp_path / "run", density=False, external=False)
    write_summary(root)
    rel = pd.DataFrame(
        {
            "config_id": [CNN] * 3 + [VLM] * 3,
            "label": ["cnn"] * 3 + ["vlm"] * 3,
            "bin": [0, 1, 2] * 2,
            "confidence": [0.1, 0.5, 0.9, 0.15, 0.55, 0.85],
            "accuracy": [0.0, 0.4, 1.0, 0.3, 0.5, 0.6],
            "count": [4, 4, 4, 4, 4, 4],
        }
    )
    rel.to_csv(root / "summary" / "reliability.csv", index=False)
    sub = pd.DataFrame(
        {
            "config_id": [CNN, CNN, VLM, VLM],
            "subgroup_column": ["subtype"] * 4,
            "subgroup": ["adenosis", "fibroadenoma", "adenosis", "fibroadenoma"],
            "metric": ["accuracy"] * 4,
            "value": [0.9, 0.7, 0.6, 0.65],
            "ci_low": [0.8, 0.5, 0.4, 0.5],
            "ci_high": [1.0, 0.85, 0.75, 0.8],
            "n_patients": [3, 3, 3, 3],
        }
    )
    sub.to_csv(root / "summary" / "subgroups.csv", index=False)
    page = build_report(root, explain_maps=False, analyse=False)
    section = page.read_text().split('id="calibration"')[1].split("</section>")[0]
    assert "No summary/reliability.csv" not in section and "<figure" in section
    data = json.loads(
        (page.parent / "figures" / "reliability_breakhis_x_40x_aug_off.json").read_text()
    )
    assert data["ylim"] == [0.0, 1.0]
    drawn = sorted((p["confidence"], p["mean"]) for p in data["points"])
    assert drawn == sorted(zip(rel["confidence"], rel["accuracy"]))
    table = pd.read_csv(page.parent / "tables" / "subgroups_subtype.csv", dtype=str)
    worst = table[table.iloc[:, -2] == "worst"]
    assert sorted(zip(worst["Configuration"], worst["subtype"])) == [
        ("clip/test-biomedclip LoRA", "adenosis"),
        ("cnn/test_resnet fine-tune", "fibroadenoma"),
    ]
