"""BACH (official ground-truth file) and the generic folder-per-class source."""

from __future__ import annotations

import json
import shutil

import pytest

from breastbench.data import load_manifest
from breastbench.data.sources.bach import BINARY_MAPPING


@pytest.fixture
def bach_tree(tmp_path, shared):
    gt = shared("bach", "microscopy_ground_truth.csv")
    photos = tmp_path / "ICIAR2018_BACH_Challenge" / "Photos"
    for line in gt.read_text().splitlines():
        name, cls = line.strip().split(",")
        (photos / cls).mkdir(parents=True, exist_ok=True)
        (photos / cls / name).touch()
    shutil.copy(gt, photos / "microscopy_ground_truth.csv")
    return tmp_path


def test_bach_real_ground_truth(bach_tree):
    df = load_manifest("bach", bach_tree)
    assert len(df) == 400
    assert df["label"].value_counts().to_dict() == {c: 100 for c in BINARY_MAPPING}
    assert df.attrs["classes"] == ["Normal", "Benign", "InSitu", "Invasive"]
    assert df["patient_id"].nunique() == 400
    assert any("no patient ids" in n for n in df.attrs["notes"])


def test_bach_binary_mapping_is_data(cli, bach_tree):
    code, out, _ = cli("data", "inspect", "bach", bach_tree, "--task", "binary", "--json")
    info = json.loads(out)
    assert code == 0 and info["by_label"] == {"benign": 200, "malignant": 200}
    assert info["classes"] == ["benign", "malignant"]


def test_bach_missing_listed_file(cli, bach_tree, error_line):
    (bach_tree / "ICIAR2018_BACH_Challenge" / "Photos" / "Benign" / "b007.tif").unlink()
    code, _, err = cli("data", "inspect", "bach", bach_tree)
    line = error_line(err)
    assert code == 2 and "b007.tif" in line and "--no-check-files" in line


def test_bach_wrong_layout(cli, tmp_path, error_line):
    code, _, err = cli("data", "inspect", "bach", tmp_path)
    assert code == 2 and "no BACH layout" in error_line(err)


@pytest.fixture
def class_tree(tmp_path):
    for cls, names in {
        "Normal": ["P01_a.png", "P01_b.png"],
        "Tumour": ["P02_a.jpg"],
        "Other": ["P03_a.tif"],
    }.items():
        (tmp_path / cls).mkdir()
        for n in names:
            (tmp_path / cls / n).touch()
    return tmp_path


def test_folder_mapping_and_patient_regex(cli, class_tree):
    code, out, _ = cli(
        "data",
        "inspect",
        "folder",
        class_tree,
        "--json",
        "-O",
        "mapping=Tumour=malignant,Normal=benign",
        "-O",
        r"patient_regex=^(P\d+)_",
    )
    info = json.loads(out)
    assert code == 0 and info["classes"] == ["malignant", "benign"]
    assert info["by_label"] == {"malignant": 1, "benign": 2} and info["n_patients"] == 2
    assert info["excluded"] == {"class folder not in mapping": 1}


def test_folder_without_regex_each_image_own_patient(class_tree):
    df = load_manifest("folder", class_tree)
    assert df.attrs["classes"] == ["Normal", "Other", "Tumour"] and df["patient_id"].nunique() == 4
    assert any("own patient" in n for n in df.attrs["notes"])


def test_folder_empty_and_bad_regex(cli, tmp_path, class_tree, error_line):
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = cli("data", "inspect", "folder", empty)
    assert code == 2 and "no class sub-folders" in error_line(err)
    code, _, err = cli("data", "inspect", "folder", class_tree, "-O", "patient_regex=^(Q\\d+)")
    assert code == 2 and "does not match patient_regex" in error_line(err)
