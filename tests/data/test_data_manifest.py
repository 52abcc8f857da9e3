"""Manifest validation: each bad manifest gives one clear line and exit 2 through the CLI."""

from __future__ import annotations

import pandas as pd
import pytest

from breastbench.data import read_manifest, write_manifest
from breastbench.data.manifest import build_manifest
from breastbench.errors import UserError


@pytest.fixture
def good(tmp_path):
    files = []
    for i in range(4):
        f = tmp_path / f"img{i}.png"
        f.touch()
        files.append(f)
    rows = [
        {"path": str(f), "patient_id": f"p{i // 2}", "label": ["benign", "malignant"][i % 2]}
        for i, f in enumerate(files)
    ]
    df = build_manifest(rows, ["benign", "malignant"], dataset="toy", task="binary", source="t")
    return df


def _write_raw(df, path):
    df.to_csv(path, index=False)
    return path


def test_build_sets_targets_and_attrs(good):
    assert good["target"].tolist() == [0, 1, 0, 1]
    assert list(good.columns[:5]) == ["path", "label", "target", "patient_id", "dataset"]
    assert good.attrs["classes"] == ["benign", "malignant"] and good.attrs["excluded"] == {}


def test_round_trip_and_sidecar(good, tmp_path):
    path = write_manifest(good, tmp_path / "out" / "m.csv")
    assert (tmp_path / "out" / "m.csv.meta.json").is_file()
    back = read_manifest(path)
    pd.testing.assert_frame_equal(back, good)
    assert back.attrs["task"] == "binary"


def test_wrong_suffix(good, tmp_path):
    with pytest.raises(UserError, match=r"\.csv or \.parquet"):
        write_manifest(good, tmp_path / "m.txt")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.drop(columns=["patient_id"]), "missing required column(s) patient_id"),
        (lambda d: pd.concat([d, d.iloc[:1]]), "1 duplicate path(s)"),
        (lambda d: d.assign(label=["benign", "malignant", "benign", "tumour"]), "tumour"),
        (lambda d: d.assign(target=[1, 1, 0, 1]), "'target' does not match"),
        (lambda d: d.assign(path=d["path"] + ".gone"), "image file(s) not found"),
        (lambda d: d.iloc[:0], "no rows"),
    ],
)
def test_bad_manifest_via_cli(cli, good, tmp_path, mutate, message, error_line):
    path = write_manifest(good, tmp_path / "m.csv")
    bad = mutate(pd.read_csv(path))
    _write_raw(bad, path)
    code, _, err = cli("data", "audit", path)
    assert code == 2
    line = error_line(err)
    assert message in line and str(path) in line


def test_missing_manifest(cli, tmp_path, error_line):
    code, _, err = cli("data", "audit", tmp_path / "none.csv")
    assert code == 2 and "not found" in error_line(err)


def test_hand_made_manifest_without_sidecar(cli, good, tmp_path):
    path = _write_raw(good.assign(fold=[0, 0, 1, 1]), tmp_path / "hand.csv")
    df = read_manifest(path)
    assert df.attrs["classes"] == ["benign", "malignant"]  # derived from the labels
    code, out, _ = cli("data", "audit", path)
    assert code == 0 and "audit ok" in out


def test_audit_without_folds(cli, good, tmp_path, error_line):
    path = write_manifest(good, tmp_path / "m.csv")
    code, _, err = cli("data", "audit", path)
    assert code == 2 and "no 'fold' column" in error_line(err)
