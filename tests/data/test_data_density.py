"""Density presets on hand-made fixtures with the real columns and quirks; MIAS on real data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from breastbench.data import load_manifest, read_image
from breastbench.data.sources.density import normalize_density
from breastbench.errors import UserError


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("DENSITY C", ("C", None)),
        ("b", ("B", None)),
        ("3", ("C", None)),
        ("4.0", ("D", None)),
        ("", (None, "missing density")),
        ("0", (None, "density 0 (not assessed)")),
        ("E", (None, None)),
        ("dense", (None, None)),
    ],
)
def test_normalize_density(raw, expected):
    assert normalize_density(raw) == expected


def test_vindr(tmp_path):
    header = "study_id,series_id,image_id,laterality,view_position,height,width,breast_birads,"
    header += "breast_density,split\n"
    rows = [
        ("s1", "i1", "L", "CC", "DENSITY C"),
        ("s1", "i2", "R", "MLO", "DENSITY C"),
        ("s2", "i3", "L", "CC", "DENSITY A"),
    ]
    lines = [
        f"{s},ser,{i},{lat},{v},3518,2800,BI-RADS 1,{d},training\n" for s, i, lat, v, d in rows
    ]
    (tmp_path / "breast-level_annotations.csv").write_text(header + "".join(lines))
    for s, i, *_ in rows:
        _touch(tmp_path / "images" / s / f"{i}.dicom")
    df = load_manifest("vindr", tmp_path)
    assert df["label"].tolist() == ["C", "C", "A"] and df["target"].tolist() == [2, 2, 0]
    assert df["patient_id"].tolist() == ["s1", "s1", "s2"] and df["view"].tolist()[1] == "MLO"
    assert df.attrs["classes"] == ["A", "B", "C", "D"]


def test_rsna_blank_density_excluded(tmp_path):
    header = "site_id,patient_id,image_id,laterality,view,age,cancer,biopsy,invasive,BIRADS,"
    header += "implant,density,machine_id,difficult_negative_case\n"
    rows = [
        "2,10006,462822612,L,CC,61.0,0,0,0,,0,,29,False",
        "2,10006,1459541791,L,MLO,61.0,0,0,0,,0,B,29,False",
        "2,10011,220375232,R,CC,55.0,0,0,0,0,0,D,21,True",
        "2,10011,270344397,R,MLO,55.0,0,0,0,0,0,,21,True",
    ]
    (tmp_path / "train.csv").write_text(header + "\n".join(rows) + "\n")
    for r in rows:
        p, i = r.split(",")[1:3]
        _touch(tmp_path / "train_images" / p / f"{i}.dcm")
    df = load_manifest("rsna", tmp_path)
    assert df["image_id"].tolist() == ["1459541791", "220375232"]
    assert df["label"].tolist() == ["B", "D"] and df["patient_id"].tolist() == ["10006", "10011"]
    assert df.attrs["excluded"] == {"missing density": 2}


def test_cbis_ddsm_mass_and_calc_columns_zero_and_repeats(tmp_path):
    mass = (
        "patient_id,breast_density,left or right breast,image view,abnormality id,"
        "abnormality type,image file path\n"
        "P_00001,3,LEFT,CC,1,mass,Mass-Training_P_00001_LEFT_CC/1.3.6/1.3.6.1/000000.dcm\n"
        "P_00004,2,RIGHT,MLO,1,mass,Mass-Training_P_00004_RIGHT_MLO/1.3/1.3.1/000000.dcm\n"
        "P_00004,2,RIGHT,MLO,2,mass,Mass-Training_P_00004_RIGHT_MLO/1.3/1.3.1/000000.dcm\n"
    )
    calc = (
        "patient_id,breast density,left or right breast,image view,abnormality id,"
        "abnormality type,image file path\n"
        "P_00005,0,RIGHT,CC,1,calcification,Calc-Training_P_00005_RIGHT_CC/1.3/1.3/000000.dcm\n"
        "P_00007,4,LEFT,MLO,1,calcification,Calc-Training_P_00007_LEFT_MLO/1.3/1.3/000000.dcm\n"
    )
    (tmp_path / "mass_case_description_train_set.csv").write_text(mass)
    (tmp_path / "calc_case_description_train_set.csv").write_text(calc)
    for text in (mass, calc):
        for line in text.splitlines()[1:]:
            _touch(tmp_path / line.split(",")[-1])
    df = load_manifest("cbis-ddsm", tmp_path)
    assert sorted(zip(df["patient_id"], df["label"], df["laterality"])) == [
        ("P_00001", "C", "L"),
        ("P_00004", "B", "R"),
        ("P_00007", "D", "L"),
    ]
    assert df.attrs["excluded"] == {"density 0 (not assessed)": 1}
    assert any("repeat an image" in n for n in df.attrs["notes"])


def test_inbreast_semicolons_acr_blank_and_prefix_files(tmp_path):
    text = (
        "Patient ID;Patient age;Laterality;View;Acquisition date;File Name;ACR;Bi-Rads\n"
        "removed;removed;R;CC;201001;22678622;4;1\n"
        "removed;removed;L;MLO;201001;22678646;4 ;1\n"
        "removed;removed;R;CC;200902;20586908;;2\n"
        "removed;removed;L;CC;200902;20586934;1;2\n"
        ";;;;;;;\n"
    )
    (tmp_path / "INbreast.csv").write_text(text)
    names = [
        "22678622_a1b2_MG_R_CC_ANON.dcm",
        "22678646_a1b2_MG_L_ML_ANON.dcm",
        "20586908_c3d4_MG_R_CC_ANON.dcm",
        "20586934_c3d4_MG_L_CC_ANON.dcm",
    ]
    for n in names:
        _touch(tmp_path / "AllDICOMs" / n)
    df = load_manifest("inbreast", tmp_path)
    assert df["label"].tolist() == ["D", "D", "A"]
    assert df["patient_id"].tolist() == ["a1b2", "a1b2", "c3d4"]  # hash in the file name
    assert df["path"].str.endswith("22678622_a1b2_MG_R_CC_ANON.dcm").iloc[0]
    assert df.attrs["excluded"] == {"missing density": 1}


def test_unknown_density_value_error_and_skip(cli, tmp_path, error_line):
    (tmp_path / "labels.csv").write_text("path,density,patient_id\na.png,B,p1\nb.png,E,p2\n")
    for n in ("a.png", "b.png"):
        _touch(tmp_path / n)
    code, _, err = cli("data", "inspect", "density-csv", tmp_path)
    line = error_line(err)
    assert code == 2 and "'E'" in line and "labels.csv" in line and "--skip-invalid" in line
    code, out, _ = cli("data", "inspect", "density-csv", tmp_path, "--skip-invalid", "--json")
    info = json.loads(out)
    assert code == 0 and info["n_images"] == 1 and info["excluded"] == {"invalid density value": 1}


def test_generic_csv_template_and_missing_column(cli, tmp_path, error_line):
    (tmp_path / "d.csv").write_text("pid,acr,img\n7,1,x\n8,4,y\n")
    for n in ("x", "y"):
        _touch(tmp_path / "im" / f"{n}.png")
    df = load_manifest(
        "density-csv",
        tmp_path,
        csv=str(tmp_path / "d.csv"),
        density_col="acr",
        patient_col="pid",
        path_col=None,
        path_template="im/{img}.png",
    )
    assert df["label"].tolist() == ["A", "D"] and df["patient_id"].tolist() == ["7", "8"]
    code, _, err = cli("data", "inspect", "density-csv", tmp_path, "--csv", tmp_path / "d.csv")
    line = error_line(err)
    assert code == 2 and "missing column(s) 'density'" in line and "d.csv" in line


def test_missing_image_error_or_counted_skip(tmp_path):
    (tmp_path / "labels.csv").write_text("path,density,patient_id\na.png,B,p1\nb.png,C,p2\n")
    _touch(tmp_path / "a.png")
    with pytest.raises(UserError, match="b.png not found"):
        load_manifest("density-csv", tmp_path)
    df = load_manifest("density-csv", tmp_path, skip_missing=True)
    assert len(df) == 1 and df.attrs["excluded"] == {"image file not found": 1}
    assert len(load_manifest("density-csv", tmp_path, check_files=False)) == 2


def test_mias_real_info_and_images(shared):
    root = shared("mias")
    df = load_manifest("mias", root, skip_missing=True)
    assert df.set_index("image_id")["label"].to_dict() == {
        "mdb001": "G",
        "mdb003": "D",
        "mdb005": "F",
    }
    assert df["patient_id"].tolist() == ["mias-001", "mias-002", "mias-003"]
    assert df.attrs["classes"] == ["F", "G", "D"]
    assert df.attrs["excluded"] == {"image file not found": 319}  # 322 films, 3 shipped
    img = read_image(df["path"].iloc[0])
    assert img.shape == (1024, 1024, 3) and img.dtype == np.uint8 and img.max() > 100


def test_mias_all_rows_without_file_check(shared):
    df = load_manifest("mias", shared("mias"), check_files=False)
    assert len(df) == 322 and df["patient_id"].nunique() == 161
    assert df["label"].value_counts().to_dict() == {"D": 112, "F": 106, "G": 104}
    pair = df.set_index("image_id").loc[["mdb001", "mdb002"]]
    assert pair["patient_id"].nunique() == 1 and pair["laterality"].tolist() == ["R", "L"]
