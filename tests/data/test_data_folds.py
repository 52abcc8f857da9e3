"""Patient-grouped stratified folds, their audit, and the hashed manifest round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import StratifiedGroupKFold

from breastbench.data import assign_folds, audit_folds, load_manifest, read_manifest
from breastbench.data.manifest import build_manifest
from breastbench.errors import UserError


@pytest.fixture(scope="module")
def folded(breakhis_tree):
    return assign_folds(load_manifest("breakhis", breakhis_tree, check_files=False), k=5, seed=0)


def test_k5_on_real_tree_no_leak_and_balanced(folded):
    audit = audit_folds(folded)
    assert audit["ok"] and audit["leaks"] == {} and audit["missing_classes"] == {}
    assert audit["k"] == 5 and audit["n_groups"] == 70
    # independent check: every patient sits in exactly one fold
    assert folded.groupby("patient_id")["fold"].nunique().max() == 1
    overall = (folded["label"] == "malignant").mean()
    for _, part in folded.groupby("fold"):
        assert abs((part["label"] == "malignant").mean() - overall) < 0.08
    assert audit["max_abs_diff"] < 0.08


def test_matches_scikit_learn_reference(folded):
    splitter = StratifiedGroupKFold(n_splits=5, shuffle=True, random_state=0)
    expected = np.full(len(folded), -1)
    for i, (_, test) in enumerate(splitter.split(folded, folded["target"], folded["patient_id"])):
        expected[test] = i
    assert (folded["fold"].to_numpy() == expected).all()


def test_seed_changes_and_reproduces(breakhis_tree, folded):
    df = load_manifest("breakhis", breakhis_tree, check_files=False)
    again = assign_folds(df, k=5, seed=0)
    other = assign_folds(df, k=5, seed=1)
    assert (again["fold"] == folded["fold"]).all()
    assert not (other["fold"] == folded["fold"]).all()
    assert again.attrs["folds"]["hash"] == folded.attrs["folds"]["hash"]


def _toy(n_patients=6, per=3, classes=("benign", "malignant")):
    rows = [
        {"path": f"/d/p{p}_{i}.png", "patient_id": f"p{p}", "label": classes[p % len(classes)]}
        for p in range(n_patients)
        for i in range(per)
    ]
    return build_manifest(rows, list(classes), dataset="toy", task="binary", source="toy")


def test_k_larger_than_groups_is_an_error():
    with pytest.raises(UserError, match="only 6 distinct patient_id"):
        assign_folds(_toy(), k=7)


def test_audit_flags_leak_and_missing_class():
    df = assign_folds(_toy(), k=3, seed=0)
    df.loc[df.index[0], "fold"] = (df["fold"].iloc[0] + 1) % 3  # move one image of p0
    audit = audit_folds(df)
    assert not audit["ok"] and list(audit["leaks"]) == ["p0"]
    only_benign = df.assign(fold=np.where(df["label"] == "benign", 0, 1))
    assert audit_folds(only_benign)["missing_classes"] == {0: ["malignant"], 1: ["benign"]}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_round_trip_keeps_attrs_and_folds(folded, tmp_path, suffix):
    from breastbench.data import write_manifest

    path = write_manifest(folded, tmp_path / f"m{suffix}")
    back = read_manifest(path, check_files=False)
    pd.testing.assert_frame_equal(back, folded, check_dtype=False)
    assert back["fold"].dtype == np.int64 and back["target"].dtype == np.int64
    assert back["patient_id"].tolist() == folded["patient_id"].tolist()  # still strings
    assert back.attrs["group_report"] == json.loads(json.dumps(folded.attrs["group_report"]))
    assert back.attrs["folds"] == {**folded.attrs["folds"]}


def test_edited_folds_are_refused_not_recomputed(folded, tmp_path, cli, error_line):
    from breastbench.data import write_manifest

    path = write_manifest(folded, tmp_path / "m.csv")
    table = pd.read_csv(path, dtype=str)
    table.loc[0, "fold"] = str((int(table.loc[0, "fold"]) + 1) % 5)
    table.to_csv(path, index=False)
    code, _, err = cli("data", "audit", path, "--no-check-files")
    assert code == 2 and "does not match the hash" in error_line(err)


def test_cli_folds_then_audit(cli, breakhis_tree, tmp_path):
    out = tmp_path / "breakhis.csv"
    code, stdout, _ = cli(
        "data", "folds", "breakhis", breakhis_tree, "--k", "5", "--seed", "3", "-o", out
    )
    assert code == 0 and out.is_file() and "leaks: 0" in stdout
    code, stdout, _ = cli("data", "audit", out, "--json")
    audit = json.loads(stdout)
    assert code == 0 and audit["ok"] and audit["n_images"] == 7909
    code, stdout, _ = cli("data", "audit", out)
    assert code == 0 and "audit ok" in stdout
    assert not list(tmp_path.glob(".*"))  # no temp files left behind


def _old_folds_hash(df):
    import hashlib

    key = df["image_id"] if "image_id" in df.columns else df["path"]
    lines = sorted(f"{k}\t{p}\t{int(f)}" for k, p, f in zip(key, df["patient_id"], df["fold"]))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _synthetic(n, n_patients):
    rng = np.random.default_rng(0)
    pid = rng.integers(0, n_patients, n)
    rows = {
        "path": [f"/d/img{i}.png" for i in range(n)],
        "patient_id": [f"p{p}" for p in pid],
        "label": np.where(pid % 3 == 0, "malignant", "benign"),
    }
    return build_manifest(
        pd.DataFrame(rows).to_dict("records"),
        ["benign", "malignant"],
        dataset="syn",
        task="binary",
        source="syn",
    )


def test_vectorised_hash_and_audit_equal_the_old_ones():
    df = assign_folds(_synthetic(500, 60), k=5, seed=3)
    assert df.attrs["folds"]["hash"] == _old_folds_hash(df)
    leaky = df.copy()
    leaky.loc[leaky.index[:3], "fold"] = (leaky["fold"].iloc[:3] + 1) % 5
    pids = leaky["patient_id"].iloc[:3].unique()
    expected = {
        str(g): sorted(int(f) for f in leaky.loc[leaky.patient_id == g, "fold"].unique())
        for g in pids
    }
    assert audit_folds(leaky)["leaks"] == expected


def test_100k_rows_fold_audit_write_read_in_seconds(tmp_path):
    import time

    df = _synthetic(100_000, 20_000)
    t0 = time.perf_counter()
    folded = assign_folds(df, k=5, seed=0)
    assert audit_folds(folded)["ok"]
    path = tmp_path / "m.csv"
    from breastbench.data.manifest import write_manifest

    write_manifest(folded, path)
    back = read_manifest(path, check_files=False)
    elapsed = time.perf_counter() - t0
    assert (back["fold"].to_numpy() == folded["fold"].to_numpy()).all()
    assert elapsed < 15, elapsed
