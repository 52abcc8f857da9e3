"""BRACS (RoI PNG tree + WSI table) and PCam (lazy HDF5) sources on their synthetic twins."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import h5py
import numpy as np
import pandas as pd
import pytest

from breastbench.cli import main
from breastbench.data import load_manifest, read_image, synthesize
from breastbench.data.h5members import close_all, member_path
from breastbench.data.sources import bracs, pcam
from breastbench.experiment.images import ImageStore

from .conftest import single_error_line


@pytest.fixture(scope="module")
def bracs_root(tmp_path_factory):
    return synthesize("synthetic-bracs", tmp_path_factory.mktemp("b") / "bracs", seed=0)


@pytest.fixture(scope="module")
def pcam_root(tmp_path_factory):
    return synthesize("synthetic-pcam", tmp_path_factory.mktemp("p") / "pcam", seed=0)


def _inspect(capsys, *argv) -> dict:
    capsys.readouterr()
    assert main(["data", "inspect", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _folds_audit(capsys, tmp_path, source, root, *extra) -> pd.DataFrame:
    out = tmp_path / f"{source}.csv"
    assert main(["data", "folds", source, str(root), "-o", str(out), *extra]) == 0
    capsys.readouterr()
    assert main(["data", "audit", str(out), "--json"]) == 0
    audit = json.loads(capsys.readouterr().out)
    assert audit["ok"] and not audit["leaks"]
    return pd.read_csv(out, dtype=str)


def test_bracs_counts_match_the_tree(capsys, bracs_root):
    files = list((bracs_root / "BRACS_RoI" / "latest_version").rglob("*.png"))
    on_disk = Counter(p.name.split("_")[2] for p in files)
    info = _inspect(capsys, "bracs", str(bracs_root))
    assert info["n_images"] == len(files) == 84
    assert info["by_label"] == dict(on_disk)
    table = pd.read_excel(bracs_root / "BRACS.xlsx", dtype=str)
    assert info["n_patients"] == table["Patient Id"].nunique() == 21
    assert any("grouped by patient" in n for n in info["notes"])
    three = _inspect(capsys, "bracs", str(bracs_root), "--task", "3class")
    assert three["by_label"] == {"benign": 36, "atypical": 24, "malignant": 24}
    binary = _inspect(capsys, "bracs", str(bracs_root), "--task", "binary")
    assert binary["by_label"] == {"benign": 60, "malignant": 24}


def test_bracs_patient_grouping_survives_folds_and_audit(capsys, tmp_path, bracs_root):
    df = _folds_audit(capsys, tmp_path, "bracs", bracs_root, "--k", "3", "--seed", "1")
    assert (df.groupby("patient_id")["fold"].nunique() == 1).all()
    # the twin pairs two slides per patient: patient grouping is coarser than slide grouping
    assert df["slide_id"].nunique() == 2 * df["patient_id"].nunique()


def test_bracs_without_wsi_table_groups_by_slide(capsys, tmp_path, bracs_root):
    copy = tmp_path / "copy"
    shutil.copytree(bracs_root / "BRACS_RoI", copy / "BRACS_RoI")
    info = _inspect(capsys, "bracs", str(copy))
    assert info["n_patients"] == 42
    assert any("grouped by WSI" in n for n in info["notes"])
    df = _folds_audit(capsys, tmp_path, "bracs", copy, "--k", "2")
    assert (df["patient_id"] == df["slide_id"]).all()


def test_bracs_official_split_and_bad_names(capsys, tmp_path, bracs_root):
    df = load_manifest("bracs", bracs_root, split="official")
    assert df.groupby("folder")["fold"].unique().map(list).to_dict() == {
        "test": [0],
        "train": [1],
        "val": [2],
    }
    assert df.attrs["fixed_split"]["test_folds"] == [0]
    copy = tmp_path / "bad"
    shutil.copytree(bracs_root / "BRACS_RoI", copy / "BRACS_RoI")
    good = next((copy / "BRACS_RoI/latest_version/train/0_N").glob("*.png"))
    shutil.copy(good, good.parent.parent / "6_IC" / good.name)  # N-named file in the IC folder
    capsys.readouterr()
    assert main(["data", "inspect", "bracs", str(copy)]) == 2
    line = single_error_line(capsys.readouterr().err)
    assert "file name says N but the folder says IC" in line


def test_pcam_counts_labels_and_lazy_reads(capsys, pcam_root):
    info = _inspect(capsys, "pcam", str(pcam_root))
    labels = {}
    for split in pcam.SPLITS:
        x_file, y_file, _ = pcam.split_files(pcam_root, split)
        with h5py.File(y_file) as fh:
            labels[split] = fh["y"][:].reshape(-1)
    y = np.concatenate(list(labels.values()))
    assert info["n_images"] == len(y) == 288
    assert info["by_label"] == {"normal": int((y == 0).sum()), "tumor": int((y == 1).sum())}
    df = load_manifest("pcam", pcam_root)
    x_file = pcam.split_files(pcam_root, "valid")[0]
    row = df[df["path"] == member_path(x_file.absolute(), 7)].iloc[0]
    with h5py.File(x_file) as fh:
        expected = fh["x"][7]
    assert np.array_equal(read_image(row["path"]), expected)
    assert row["label"] == pcam.CLASSES[labels["valid"][7]]
    meta = pd.read_csv(pcam.split_files(pcam_root, "valid")[2])
    assert row["slide_id"] == meta["wsi"][7]


def test_pcam_image_cache_reads_members(tmp_path, pcam_root):
    x_file = pcam.split_files(pcam_root, "test")[0]
    paths = [member_path(x_file, i) for i in range(20)]
    store = ImageStore(paths, (96, 96), tmp_path / "cache", progress=False)
    with h5py.File(x_file) as fh:
        assert np.array_equal(store.array()[:], fh["x"][:20])
    close_all()


def test_pcam_slide_grouping_survives_folds_and_audit(capsys, tmp_path, pcam_root):
    df = _folds_audit(capsys, tmp_path, "pcam", pcam_root, "--k", "3")
    assert (df.groupby("slide_id")["fold"].nunique() == 1).all()
    assert df["patient_id"].nunique() == 16


def test_pcam_without_meta_and_official_split(capsys, tmp_path, pcam_root):
    copy = tmp_path / "nometa"
    copy.mkdir()
    for f in pcam_root.glob("*.h5"):
        shutil.copy(f, copy / f.name)
    info = _inspect(capsys, "pcam", str(copy))
    assert info["n_patients"] == info["n_images"] == 288
    assert any("their own groups" in n for n in info["notes"])
    df = load_manifest("pcam", copy, split="official")
    assert df.groupby("folder")["fold"].first().to_dict() == {"test": 0, "train": 1, "valid": 2}
    for f in copy.glob("*_y.h5"):
        f.unlink()
    capsys.readouterr()
    assert main(["data", "inspect", "pcam", str(copy)]) == 2
    assert "has no label file" in single_error_line(capsys.readouterr().err)


def test_bracs_module_layout_constants():
    assert list(bracs.FOLDERS) == ["0_N", "1_PB", "2_UDH", "3_FEA", "4_ADH", "5_DCIS", "6_IC"]
