"""CBIS-DDSM as TCIA downloads it: four official CSVs resolved against the TCIA folder tree."""

from __future__ import annotations

import pytest

from breastbench.data.sources import density_presets
from breastbench.errors import UserError

MASS_COLS = (
    "patient_id,breast_density,left or right breast,image view,abnormality id,abnormality type,"
    "mass shape,mass margins,assessment,pathology,subtlety"
)
CALC_COLS = (
    "patient_id,breast density,left or right breast,image view,abnormality id,abnormality type,"
    "calc type,calc distribution,assessment,pathology,subtlety"
)
PATH_COLS = ",image file path,cropped image file path,ROI mask file path"

# (csv kind, patient, side, view, densities of its abnormality rows); invented UIDs
CASES = {
    "mass_case_description_train_set.csv": [
        ("P_00001", "LEFT", "CC", [3, 3]),
        ("P_00004", "RIGHT", "MLO", [2]),
    ],
    "mass_case_description_test_set.csv": [
        ("P_00016", "LEFT", "MLO", [4]),
        ("P_00017", "LEFT", "CC", [0]),
    ],
    "calc_case_description_train_set.csv": [
        ("P_00005", "RIGHT", "CC", [2, 3]),
        ("P_00007", "LEFT", "MLO", [1]),
    ],
    "calc_case_description_test_set.csv": [
        ("P_00038", "LEFT", "CC", [3]),
        ("P_00041", "RIGHT", "MLO", [2, 2, 2]),
    ],
}


def _uid(n: int, salt: int) -> str:
    return f"1.3.6.1.4.1.9590.100.1.2.{salt}{n:06d}{salt * 7919 + n:05d}"


def _build(root, with_paths: bool, nested: bool = True):
    base = root / "manifest-ZkhPvrLo5216730872708713142" / "CBIS-DDSM" if nested else root
    expected = {}
    for i, (csv_name, cases) in enumerate(CASES.items()):
        kind = "Mass" if csv_name.startswith("mass") else "Calc"
        split = "Training" if "train" in csv_name else "Test"
        lines = [(MASS_COLS if kind == "Mass" else CALC_COLS) + (PATH_COLS if with_paths else "")]
        for j, (patient, side, view, densities) in enumerate(cases):
            case = f"{kind}-{split}_{patient}_{side}_{view}"
            study, series = _uid(i * 10 + j, 1), _uid(i * 10 + j, 2)
            full = base / case / f"07-20-2016-DDSM-{study[-5:]}"
            full = full / f"1.000000-full mammogram images-{series[-5:]}" / "1-1.dcm"
            full.parent.mkdir(parents=True)
            full.write_bytes(b"")
            # cropped image and ROI mask live in their own case folders (<case>_<n>)
            roi = base / f"{case}_1" / f"08-29-2017-DDSM-{study[-5:]}" / "1.000000-ROI-12345"
            roi.mkdir(parents=True)
            (roi / "1-1.dcm").write_bytes(b"")
            (roi / "1-2.dcm").write_bytes(b"")
            expected[case] = (str(full), densities)
            for k, d in enumerate(densities, 1):
                abnormality = "mass" if kind == "Mass" else "calcification"
                row = f"{patient},{d},{side},{view},{k},{abnormality},a,b,4,MALIGNANT,3"
                if with_paths:
                    rel = f"{case}/{study}/{series}/000000.dcm"
                    row += f",{rel},{case}_{k}/{study}/x/000000.dcm,{case}_{k}/{study}/x/000001.dcm"
                lines.append(row)
        (root / csv_name).write_text("\n".join(lines) + "\n")
    return expected


@pytest.mark.parametrize("with_paths", [True, False])
def test_one_row_per_image_from_each_csv_kind(tmp_path, with_paths):
    expected = _build(tmp_path, with_paths)
    df = density_presets.cbis_ddsm(tmp_path)
    kept = {case: v for case, v in expected.items() if v[1][0] != 0}
    assert sorted(df["image_id"]) == sorted(kept)
    assert df["image_id"].is_unique
    assert dict(zip(df["image_id"], df["path"])) == {c: v[0] for c, v in kept.items()}
    for kind in ("Mass-Training", "Mass-Test", "Calc-Training", "Calc-Test"):
        assert df["image_id"].str.startswith(kind).any()
    labels = dict(zip(df["image_id"], df["label"]))
    assert labels["Mass-Training_P_00001_LEFT_CC"] == "C"
    assert labels["Calc-Training_P_00007_LEFT_MLO"] == "A"
    assert df.attrs["excluded"] == {"density 0 (not assessed)": 1}
    notes = " | ".join(df.attrs["notes"])
    assert "4 row(s) repeat an image" in notes
    assert "1 image(s) with conflicting densities" in notes and "P_00005" in notes


def test_flat_tcia_tree_without_manifest_folder(tmp_path):
    _build(tmp_path, with_paths=False, nested=False)
    assert len(density_presets.cbis_ddsm(tmp_path)) == 7


def test_unknown_layout_names_known_layouts_and_found(tmp_path):
    _build(tmp_path / "elsewhere", with_paths=True)
    for csv in (tmp_path / "elsewhere").glob("*.csv"):
        csv.rename(tmp_path / csv.name)
    (tmp_path / "jpeg" / "1.3.6.1.4.1.9590").mkdir(parents=True)
    (tmp_path / "elsewhere").rename(tmp_path / "other")
    import shutil

    shutil.rmtree(tmp_path / "other")
    with pytest.raises(UserError) as err:
        density_presets.cbis_ddsm(tmp_path)
    msg = str(err.value)
    assert "\n" not in msg and "known layouts are the TCIA download" in msg
    assert "found: 1 folder(s), e.g. jpeg (inside jpeg: 1.3.6.1.4.1.9590)" in msg
