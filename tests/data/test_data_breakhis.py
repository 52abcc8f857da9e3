"""BreakHis source against the official counts of the real 7,909-file listing."""

from __future__ import annotations

import json
import time

import pytest

from breastbench.data import load_manifest
from breastbench.data.sources.breakhis import parse_name

MULTI_FOLDER_PATIENTS = {
    "14-13412": ["SOB_M_DC_14-13412", "SOB_M_LC_14-13412"],
    "14-14134": ["SOB_B_F_14-14134", "SOB_B_F_14-14134E"],
    "14-15570": ["SOB_M_LC_14-15570", "SOB_M_LC_14-15570C"],
    "14-16184": ["SOB_B_TA_14-16184", "SOB_B_TA_14-16184CD"],
    "14-18842": ["SOB_M_MC_14-18842", "SOB_M_MC_14-18842D"],
    "14-19979": ["SOB_M_MC_14-19979", "SOB_M_MC_14-19979C"],
    "14-21998": ["SOB_B_F_14-21998CD", "SOB_B_F_14-21998EF", "SOB_B_PT_14-21998AB"],
    "14-22549": ["SOB_B_A_14-22549AB", "SOB_B_A_14-22549CD", "SOB_B_A_14-22549G"],
    "14-23060": ["SOB_B_F_14-23060AB", "SOB_B_F_14-23060CD"],
    "14-29960": ["SOB_B_A_14-29960CD", "SOB_B_F_14-29960AB"],
}


@pytest.fixture(scope="module")
def manifest(breakhis_tree):
    return load_manifest("breakhis", breakhis_tree)


def test_official_counts(manifest):
    assert len(manifest) == 7909
    assert manifest["label"].value_counts().to_dict() == {"benign": 2480, "malignant": 5429}
    by_mag = manifest.groupby(["magnification", "label"]).size().unstack()
    assert by_mag.to_dict("index") == {
        40: {"benign": 625, "malignant": 1370},
        100: {"benign": 644, "malignant": 1437},
        200: {"benign": 623, "malignant": 1390},
        400: {"benign": 588, "malignant": 1232},
    }
    assert manifest["folder"].nunique() == 82
    assert manifest["slide_id"].nunique() == 81
    assert manifest["patient_id"].nunique() == 70
    assert manifest.attrs["classes"] == ["benign", "malignant"]
    assert (manifest["target"] == (manifest["label"] == "malignant")).all()


def test_group_report_lists_the_ten_multi_folder_patients(manifest):
    report = manifest.attrs["group_report"]
    assert report["n_groups"] == 70 and report["n_folders"] == 82 and report["n_slides"] == 81
    assert report["merged"] == MULTI_FOLDER_PATIENTS
    assert report["multi_subtype"] == {
        "14-13412": ["DC", "LC"],
        "14-21998": ["F", "PT"],
        "14-29960": ["A", "F"],
    }


def test_folder_names_match_the_real_tree(manifest):
    # the folder is rebuilt from the file name; it must equal the directory it sits in
    real = manifest["path"].str.split("/").str[-3]
    assert (real == manifest["folder"]).all()


@pytest.mark.parametrize(
    ("group_by", "n_groups", "col"), [("slide", 81, "slide_id"), ("folder", 82, "folder")]
)
def test_group_by_options(breakhis_tree, group_by, n_groups, col):
    df = load_manifest("breakhis", breakhis_tree, group_by=group_by, check_files=False)
    assert df.attrs["group_col"] == col
    assert df.attrs["group_report"]["n_groups"] == n_groups


def test_subtype_task_and_magnification_filter(breakhis_tree):
    df = load_manifest("breakhis", breakhis_tree, task="subtype", magnification="200X")
    assert len(df) == 2013
    assert df.attrs["classes"] == ["A", "F", "PT", "TA", "DC", "LC", "MC", "PC"]
    assert (df["label"] == df["subtype"]).all()
    assert df.loc[df["label"] == "PC", "target"].unique().tolist() == [7]


def test_inspect_json_is_fast_and_complete(cli, breakhis_tree):
    start = time.perf_counter()
    code, out, _ = cli("data", "inspect", "breakhis", breakhis_tree, "--json")
    elapsed = time.perf_counter() - start
    assert code == 0 and elapsed < 5.0, elapsed
    info = json.loads(out)
    assert info["n_images"] == 7909 and info["n_patients"] == 70
    assert info["by_label"] == {"benign": 2480, "malignant": 5429}
    assert info["by_magnification"]["400X"] == {"n": 1820, "benign": 588, "malignant": 1232}
    assert info["excluded"] == {}
    assert "14-13412" in info["group_report"]["merged"]


def test_inspect_human_output(cli, breakhis_tree):
    code, out, _ = cli("data", "inspect", "breakhis", breakhis_tree, "--magnification", "40")
    assert code == 0
    assert "1995" in out and "14-22549" in out


def test_flat_folder_layout(tmp_path, breakhis_tree):
    for name in ("SOB_B_A-14-22549AB-40-001.png", "SOB_M_DC-14-13412-400-010.png"):
        (tmp_path / name).touch()
    df = load_manifest("breakhis", tmp_path)
    assert df["patient_id"].tolist() == ["14-22549", "14-13412"]
    assert df["magnification"].tolist() == [40, 400]


def test_parse_name_fields():
    row = parse_name("/x/SOB_B_PT-14-21998AB-100-005.png")
    assert row["patient_id"] == "14-21998" and row["slide_id"] == "14-21998AB"
    assert row["folder"] == "SOB_B_PT_14-21998AB" and row["magnification"] == 100


def test_non_breakhis_name_is_one_line_error(cli, tmp_path, error_line):
    (tmp_path / "SOB_B_A-14-22549AB-40-001.png").touch()
    (tmp_path / "scan_01.png").touch()
    code, _, err = cli("data", "inspect", "breakhis", tmp_path)
    assert code == 2
    line = error_line(err)
    assert "scan_01.png" in line and "not a BreakHis file name" in line


def test_nonexistent_root(cli, tmp_path, error_line):
    code, _, err = cli("data", "inspect", "breakhis", tmp_path / "nope")
    assert code == 2 and "does not exist" in error_line(err)


def test_empty_folder(cli, tmp_path, error_line):
    code, _, err = cli("data", "inspect", "breakhis", tmp_path)
    assert code == 2 and "no .png files" in error_line(err)


def test_two_copies_of_the_tree(cli, tmp_path, error_line):
    for copy in ("a", "b"):
        (tmp_path / copy).mkdir()
        (tmp_path / copy / "SOB_B_A-14-22549AB-40-001.png").touch()
    code, _, err = cli("data", "inspect", "breakhis", tmp_path)
    assert code == 2 and "found twice" in error_line(err)


def test_bad_task_and_unknown_option(cli, tmp_path, error_line):
    (tmp_path / "SOB_B_A-14-22549AB-40-001.png").touch()
    code, _, err = cli("data", "inspect", "breakhis", tmp_path, "--task", "grade")
    assert code == 2 and "task" in error_line(err)
    code, _, err = cli("data", "inspect", "breakhis", tmp_path, "--csv", "x.csv")
    assert code == 2 and "no option csv" in error_line(err)
