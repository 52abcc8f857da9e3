"""CMMD (TCIA DICOM tree + clinical xlsx) and EMBED (metadata + clinical CSVs) sources."""

from __future__ import annotations

import json

import pandas as pd
import pydicom
import pytest

from breastbench.cli import main
from breastbench.data import read_image, synthesize
from breastbench.data.sources import embed

from .conftest import single_error_line


@pytest.fixture(scope="module")
def cmmd_root(tmp_path_factory):
    return synthesize("synthetic-cmmd", tmp_path_factory.mktemp("c") / "cmmd", seed=0)


@pytest.fixture(scope="module")
def embed_root(tmp_path_factory):
    return synthesize("synthetic-embed", tmp_path_factory.mktemp("e") / "embed", seed=0)


def _inspect(capsys, *argv) -> dict:
    capsys.readouterr()
    assert main(["data", "inspect", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _folds_audit(capsys, tmp_path, source, root) -> pd.DataFrame:
    out = tmp_path / f"{source}.csv"
    assert main(["data", "folds", source, str(root), "-o", str(out), "--k", "3"]) == 0
    capsys.readouterr()
    assert main(["data", "audit", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"]
    return pd.read_csv(out, dtype=str)


def test_cmmd_counts_match_clinical_table_and_headers(capsys, cmmd_root):
    clinical = pd.read_excel(cmmd_root / "CMMD_clinicaldata_revision.xlsx", dtype=str)
    headers = [
        pydicom.dcmread(p, stop_before_pixels=True) for p in sorted(cmmd_root.rglob("*.dcm"))
    ]
    breasts = set(zip(clinical["ID1"], clinical["LeftRight"]))
    labelled = [h for h in headers if (h.PatientID, h.ImageLaterality) in breasts]
    info = _inspect(capsys, "cmmd", str(cmmd_root))
    assert info["n_images"] == len(labelled) == 24
    assert info["excluded"] == {
        "breast without a clinical row (unaffected side)": len(headers) - len(labelled)
    }
    by_class = clinical.set_index(["ID1", "LeftRight"])["classification"].str.lower()
    expected = pd.Series([by_class[(h.PatientID, h.ImageLaterality)] for h in labelled])
    assert info["by_label"] == expected.value_counts().to_dict()
    sub = _inspect(capsys, "cmmd", str(cmmd_root), "--task", "subtype")
    assert sub["n_images"] == 2 * (clinical["subtype"].fillna("") != "").sum()


def test_cmmd_rows_are_per_image_grouped_by_patient(capsys, tmp_path, cmmd_root):
    df = _folds_audit(capsys, tmp_path, "cmmd", cmmd_root)
    assert (df.groupby("patient_id")["fold"].nunique() == 1).all()
    assert (df["study_id"] == df["patient_id"] + "_" + df["laterality"]).all()
    assert df.groupby("study_id")["label"].nunique().max() == 1  # one label per breast
    assert read_image(df["path"].iloc[0]).ndim == 3


def test_embed_join_and_exclusions(capsys, embed_root):
    meta = pd.read_csv(embed_root / "tables/EMBED_OpenData_metadata.csv", dtype=str)
    clin = pd.read_csv(embed_root / "tables/EMBED_OpenData_clinical.csv", dtype=str)
    per_exam = clin.groupby("acc_anon")["tissueden"].agg(lambda v: set(v.dropna()))
    conflicting = set(per_exam[per_exam.map(len) > 1].index)
    no_density = set(per_exam[per_exam.map(len) == 0].index)
    two_d = meta[meta["FinalImageType"] == "2D"]
    kept = two_d[~two_d["acc_anon"].isin(conflicting | no_density)]
    info = _inspect(capsys, "embed", str(embed_root))
    assert info["n_images"] == len(kept)
    assert info["excluded"] == {
        "FinalImageType not 2D": int((meta["FinalImageType"] != "2D").sum()),
        "exam with conflicting tissueden rows": int(two_d["acc_anon"].isin(conflicting).sum()),
        "missing density": int(two_d["acc_anon"].isin(no_density).sum()),
    }
    density = kept["acc_anon"].map(lambda e: "ABCD"[int(next(iter(per_exam[e]))) - 1])
    assert info["by_label"] == density.value_counts().to_dict()
    assert info["n_patients"] == kept["empi_anon"].nunique()


def test_embed_grouping_survives_folds_and_audit(capsys, tmp_path, embed_root):
    df = _folds_audit(capsys, tmp_path, "embed", embed_root)
    assert (df.groupby("patient_id")["fold"].nunique() == 1).all()
    assert df.groupby("patient_id")["study_id"].nunique().max() == 2  # two exams per woman


def test_embed_paths_and_bad_tables(capsys, tmp_path, embed_root):
    assert embed.image_path(tmp_path, "/mnt/NAS2/mammo/anon_dicom/cohort_1/1/2/x.dcm") == str(
        tmp_path / "images/cohort_1/1/2/x.dcm"
    )
    bad = tmp_path / "clin.csv"
    pd.read_csv(embed_root / "tables/EMBED_OpenData_clinical.csv").drop(columns="tissueden").to_csv(
        bad, index=False
    )
    capsys.readouterr()
    assert main(["data", "inspect", "embed", str(embed_root), "-O", f"clinical={bad}"]) == 2
    assert "missing column(s) 'tissueden'" in single_error_line(capsys.readouterr().err)


def test_busi_folder_preset_skips_masks(capsys, tmp_path):
    import cv2
    import numpy as np

    base = tmp_path / "Dataset_BUSI_with_GT"
    counts = {"normal": 2, "benign": 3, "malignant": 2}
    for cls, n in counts.items():
        (base / cls).mkdir(parents=True)
        for i in range(1, n + 1):
            img = np.full((20, 24), 40 * i, np.uint8)
            cv2.imwrite(str(base / cls / f"{cls} ({i}).png"), img)
            cv2.imwrite(str(base / cls / f"{cls} ({i})_mask.png"), img)
        cv2.imwrite(str(base / cls / f"{cls} (1)_mask_1.png"), img)  # a second lesion's mask
    info = _inspect(capsys, "busi", str(tmp_path))
    assert info["by_label"] == counts and info["n_patients"] == 7
    assert info["excluded"] == {"lesion mask (not an image)": 7 + 3}
    binary = _inspect(capsys, "busi", str(tmp_path), "--task", "binary")
    assert binary["by_label"] == {"benign": 3, "malignant": 2}
    assert binary["excluded"]["normal image (binary task)"] == 2


def test_breastmnist_npz_read_in_place(capsys, tmp_path):
    import numpy as np

    from breastbench.data.sources import load_manifest

    rng = np.random.default_rng(0)
    arrays = {}
    for split, n in {"train": 12, "val": 4, "test": 6}.items():
        arrays[f"{split}_images"] = rng.integers(0, 255, (n, 28, 28), dtype=np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % 3 != 0).astype(np.uint8).reshape(n, 1)
    np.savez(tmp_path / "breastmnist.npz", **arrays)
    info = _inspect(capsys, "breastmnist", str(tmp_path))
    labels = np.concatenate([arrays[f"{s}_labels"] for s in ("train", "val", "test")]).ravel()
    assert info["n_images"] == 22
    assert info["by_label"] == {"benign": int(labels.sum()), "malignant": int((labels == 0).sum())}
    df = load_manifest("breastmnist", tmp_path, split="official")
    row = df[df["image_id"] == "val_2"].iloc[0]
    img = read_image(row["path"])
    assert img.shape == (28, 28, 3) and np.array_equal(img[..., 0], arrays["val_images"][2])
    assert row["fold"] == 2 and (df[df["folder"] == "test"]["fold"] == 0).all()
