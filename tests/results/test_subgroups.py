"""Subgroup analysis: ``summary/subgroups.csv`` and ``summary/subgroup_comparisons.csv``.

End to end through ``breastbench run`` on a synthetic BreakHis tree (which has ``subtype``), and
on hand-made run folders whose scores are known: near-duplicate images per patient (the interval
must be a patient bootstrap's, not an image bootstrap's), Holm within each family against
statsmodels, bounded intervals, one-line refusals and the per-source defaults.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from breastbench import jsonio
from breastbench.cli import main
from breastbench.results.analysis import write_summary
from breastbench.results.folder import RunFolder
from breastbench.results.subgroup_spec import AnalysisSpec, columns_for, default_subgroups
from breastbench.results.subgroups import CI_METHOD

sys.path.insert(0, str(Path(__file__).parent))
from helpers import datasets  # noqa: E402
from statfolder import cv_key, fold_frame, write_grid, write_run  # noqa: E402

TRAINING = {"epochs": 1, "batch_size": 16, "lr": 3.0e-3}
REPORT_COLUMNS = ["config_id", "subgroup_column", "subgroup", "metric", "value", "ci_low"]
REPORT_COLUMNS += ["ci_high", "n_patients"]


def _config(tmp_path: Path, synth: Path, analysis: dict | None) -> Path:
    cfg = {
        "name": "sub",
        "output_dir": str(tmp_path / "out"),
        "synthetic": True,
        "datasets": datasets(synth)[:1],
        "models": [
            {
                "name": "cnn/test-resnet",
                "label": "TinyResNet",
                "modes": ["finetune", "linear_probe"],
            },
        ],
        "cv": {"k": 2, "seed": 0},
        "training": TRAINING,
    }
    if analysis is not None:
        cfg["analysis"] = analysis
    path = tmp_path / "sub.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def sub_run(tmp_path_factory, synth):
    """Two tiny configurations on synthetic BreakHis; subgroups left to the default (subtype)."""
    tmp = tmp_path_factory.mktemp("subgroups")
    # no subgroups listed: the BreakHis default (subtype) applies; the tree has 2 patients a
    # subtype, so min_patients is lowered to 2
    assert main(["run", str(_config(tmp, synth, {"min_patients": 2})), "--no-explain"]) == 0
    return tmp / "out"


@pytest.mark.slow  # builds the session's synthetic trees and trains two tiny configurations
def test_subgroups_csv_has_the_reports_format_and_fold_aware_values(sub_run):
    table = pd.read_csv(sub_run / "summary" / "subgroups.csv")
    assert set(REPORT_COLUMNS) <= set(table.columns)
    assert set(table["subgroup_column"]) == {"subtype"}  # the BreakHis default
    manifest = pd.read_csv(sub_run / "manifests" / "breakhis.csv", dtype=str)
    assert set(table["subgroup"].astype(str)) == set(manifest["subtype"])
    assert set(table["metric"]) == {"auc", "accuracy"}
    # a subtype is all benign or all malignant: AUC is undefined there, with a note, no crash
    auc = table[table["metric"] == "auc"]
    assert auc["value"].isna().all() and auc["note"].str.contains("single class").all()
    # accuracy: per fold model on the subtype's images, then the mean over folds
    acc = table[table["metric"] == "accuracy"]
    assert acc["value"].notna().all()
    lookup = manifest.set_index("path")["subtype"]
    for _, row in acc.iterrows():
        per_fold = []
        for pred in sorted((sub_run / "runs").glob(f"{row['config_id']}__fold*/predictions.csv")):
            df = pd.read_csv(pred, dtype={"path": str})
            part = df[df["path"].map(lookup) == str(row["subgroup"])]
            if len(part):
                per_fold.append(float((part["pred"] == part["target"]).mean()))
        assert row["value"] == pytest.approx(np.mean(per_fold), abs=1e-12)
        assert row["n"] == len(per_fold)
        assert 0.0 <= row["ci_low"] <= row["value"] <= row["ci_high"] <= 1.0
        assert row["ci_method"] == CI_METHOD
    # the worst group of each configuration is marked once per metric where defined
    marked = acc.groupby("config_id")["worst"].sum()
    assert (marked == 1).all()
    worst = acc[acc["worst"]]
    for cid, value in zip(worst["config_id"], worst["value"]):
        assert value == acc[acc["config_id"] == cid]["value"].min()


@pytest.mark.slow
def test_subgroup_comparisons_are_drawn_in_the_report(sub_run):
    tests = pd.read_csv(sub_run / "summary" / "subgroup_comparisons.csv")
    assert len(tests[["config_a", "config_b"]].drop_duplicates()) == 1  # the compared pair
    assert {"p", "p_adj", "family_size", "significant", "estimate"} <= set(tests.columns)
    assert tests[tests["metric"] == "auc"]["p"].isna().all()  # undefined: left out of m
    acc = tests[tests["metric"] == "accuracy"]
    assert (acc["family_size"] == acc["p"].notna().sum()).all()
    md = (sub_run / "report" / "report.md").read_text()
    assert "summary/subgroups.csv" in md and "summary/subgroup_comparisons.csv" in md


def _near_duplicate_folder(root: Path, n_patients: int = 40, images: int = 8) -> Path:
    """Two configurations, 2 folds; each patient's images are near-duplicates of one score.

    The manifest has a ``site`` column: ``s0``/``s1`` split the patients (both classes in
    each), ``mono`` holds four benign patients only (AUC undefined there).
    """
    rng = np.random.default_rng(7)
    sites = {}
    keys = []
    for fold in (0, 1):
        frame = fold_frame(fold, n_patients, images)
        patients = frame["patient_id"].unique()
        base = {"good": {}, "weak": {}}
        for i, p in enumerate(patients):
            target = i % 2
            base["good"][p] = 1.2 * target + rng.normal(0, 0.9)
            base["weak"][p] = 0.3 * target + rng.normal(0, 0.9)
            sites[p] = "mono" if (target == 0 and i < 8) else f"s{(i // 2) % 2}"
        for model in ("good", "weak"):
            z = frame["patient_id"].map(base[model]).to_numpy()
            z = z + rng.normal(0, 0.01, len(frame))  # near-duplicates
            key = cv_key(model, fold)
            write_run(root, key, frame, 1.0 / (1.0 + np.exp(-z)))
            keys.append(key)
        frame["site"] = frame["patient_id"].map(sites)
        frame["dataset"] = "breakhis"
        part = root / "site_manifest.csv"
        frame.to_csv(part, mode="a", header=not part.exists(), index=False)
    write_grid(root, sorted(set(k.config for k in keys), key=lambda k: k.model))
    folder = RunFolder(root)
    manifest = pd.read_csv(root / "site_manifest.csv")
    jsonio.atomic_write_csv(manifest, folder.manifest_path("breakhis"))
    cfg = {
        "datasets": [{"name": "breakhis", "source": "synthetic-breakhis"}],
        "analysis": {"subgroups": ["site"], "min_patients": 3},
    }
    jsonio.atomic_write_text(folder.config_path, yaml.safe_dump(cfg))
    return root


def _by_hand(root: Path, model: str, site: str, patients: bool, n_boot=1000, seed=11):
    """Width of the percentile interval of the mean over folds of the subgroup's AUC.

    Written independently of the package: whole patients (or single images) drawn with
    replacement within each class of each fold, AUC by scikit-learn.
    """
    rng = np.random.default_rng(seed)
    lookup = pd.read_csv(root / "site_manifest.csv").set_index("path")["site"]
    folds, observed = [], []
    for pred in sorted((root / "runs").glob(f"*{model}*/predictions.csv")):
        df = pd.read_csv(pred)
        df = df[df["path"].map(lookup) == site].reset_index(drop=True)
        unit = df["patient_id"] if patients else pd.Series(df.index, index=df.index)
        # per class: the row indices of each resampling unit
        members = [
            [np.flatnonzero((unit == u).to_numpy()) for u in unit[df["target"] == c].unique()]
            for c in (0, 1)
        ]
        folds.append((df["target"].to_numpy(), df["prob_malignant"].to_numpy(), members))
        observed.append(roc_auc_score(df["target"], df["prob_malignant"]))
    values = []
    for _ in range(n_boot):
        per_fold = []
        for y, p, members in folds:
            picks = [cls[i] for cls in members for i in rng.integers(0, len(cls), len(cls))]
            idx = np.concatenate(picks)
            ranks = rankdata(p[idx])  # Mann-Whitney AUC (ties get half credit)
            pos = y[idx] == 1
            n1, n0 = pos.sum(), (~pos).sum()
            per_fold.append((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))
        values.append(np.mean(per_fold))
    lo, hi = np.quantile(values, [0.025, 0.975])
    return float(np.mean(observed)), hi - lo


def test_subgroup_intervals_resample_patients_not_images(tmp_path):
    """Near-duplicate images: the width is a patient bootstrap's, far wider than an image one."""
    root = _near_duplicate_folder(tmp_path)
    table = write_summary(root)["subgroups"]
    for site in ("s0", "s1"):
        row = table[
            (table["subgroup"] == site)
            & (table["metric"] == "auc")
            & (table["label"].str.startswith("good"))
        ].iloc[0]
        width = row["ci_high"] - row["ci_low"]
        value, patient = _by_hand(root, "good", site, patients=True)
        _, image = _by_hand(root, "good", site, patients=False)
        assert row["value"] == pytest.approx(value, abs=1e-12)  # mean of per-fold AUCs
        print(f"{site}: width {width:.4f}, patient bootstrap {patient:.4f}, image {image:.4f}")
        assert image < 0.5 * patient  # 8 near-copies a patient: an image bootstrap is too narrow
        assert width == pytest.approx(patient, rel=0.2)
        members = pd.read_csv(root / "site_manifest.csv").query("site == @site")
        assert row["n_patients"] == members["patient_id"].nunique()
        assert row["n_images"] == len(members)


def test_gap_tests_are_holm_corrected_within_their_family_like_statsmodels(tmp_path):
    from statsmodels.stats.multitest import multipletests

    root = _near_duplicate_folder(tmp_path)
    tests = write_summary(root)["subgroup_comparisons"]
    assert set(tests["subgroup"]) == {"mono", "s0", "s1"}
    auc = tests[tests["metric"] == "auc"]
    assert math.isnan(auc[auc["subgroup"] == "mono"]["p"].iloc[0])  # one class: undefined
    for _, family in tests.groupby(["config_a", "config_b", "subgroup_column", "metric"]):
        defined = family["p"].notna()
        expected = multipletests(family.loc[defined, "p"], method="holm")[1]
        np.testing.assert_allclose(family.loc[defined, "p_adj"], expected, atol=1e-12)
        assert family.loc[~defined, "p_adj"].isna().all()
        assert (family["family_size"] == defined.sum()).all()
    sizes = pd.read_csv(root / "site_manifest.csv").groupby("site")["patient_id"].nunique()
    assert dict(zip(tests["subgroup"], tests["n_patients"])) == sizes.to_dict()


def test_subgroup_intervals_of_bounded_metrics_stay_in_range(tmp_path):
    """Tiny noisy subgroups: every interval of a bounded metric lies in [0, 1]."""
    root = _near_duplicate_folder(tmp_path, n_patients=12, images=2)
    table = write_summary(root)["subgroups"]
    defined = table[table["ci_low"].notna()]
    assert len(defined) >= 8
    assert (defined["ci_low"] >= 0).all() and (defined["ci_high"] <= 1).all()
    assert (
        (defined["ci_low"] <= defined["value"]) & (defined["value"] <= defined["ci_high"])
    ).all()
    few = table[table["subgroup"] == "mono"]  # 4 patients in each of 2 folds
    assert few["n_patients"].eq(8).all() and few[few["metric"] == "accuracy"]["value"].notna().all()


def test_too_few_patients_is_nan_with_a_note(tmp_path):
    root = _near_duplicate_folder(tmp_path, n_patients=12, images=2)
    text = RunFolder(root).config_path.read_text().replace("min_patients: 3", "min_patients: 9")
    RunFolder(root).config_path.write_text(text)
    table = write_summary(root)["subgroups"]
    mono = table[table["subgroup"] == "mono"]
    assert mono["value"].isna().all()
    assert mono["note"].str.contains("8 patients < analysis.min_patients = 9").all()


@pytest.mark.parametrize(
    ("analysis", "needle"),
    [
        ({"subgroups": ["nope"]}, "analysis.subgroups[0]: no dataset's manifest has a column"),
        ({"subgroups": ["patient_id"]}, "analysis.subgroups[0]: 'patient_id' identifies images"),
        ({"subgroups": ["subtype", "subtype"]}, "analysis.subgroups: a column is listed twice"),
        ({"min_patients": 1}, "analysis.min_patients: got 1"),
    ],
)
def test_bad_subgroup_settings_are_one_line_exit_2_before_training(
    tmp_path, synth, capsys, analysis, needle
):
    rc = main(["run", str(_config(tmp_path, synth, analysis)), "--no-explain"])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and needle in err
    if "nope" in str(analysis):
        assert "subtype" in err and "magnification" in err  # the columns the manifest has
    assert not (tmp_path / "out").exists()  # nothing trained, nothing half-written


def test_defaults_per_source_apply_only_where_the_column_exists():
    assert default_subgroups("breakhis") == ["subtype"]
    assert default_subgroups("synthetic-breakhis") == ["subtype"]
    for source in ("cmmd", "embed", "vindr", "rsna", "cbis-ddsm", "inbreast", "mias"):
        assert default_subgroups(source) == ["view"]
    assert default_subgroups("bach") == []
    with_view = pd.DataFrame({"path": ["a"], "view": ["CC"]})
    without = pd.DataFrame({"path": ["a"], "view": [None]})
    assert columns_for(AnalysisSpec(), "cmmd", [with_view]) == ["view"]
    assert columns_for(AnalysisSpec(), "cmmd", [without]) == []
    # a listed section replaces the defaults (an empty list: no subgroups)
    assert columns_for(AnalysisSpec(subgroups=[]), "cmmd", [with_view]) == []
    listed = AnalysisSpec(subgroups=["laterality"])
    assert columns_for(listed, "cmmd", [with_view.assign(laterality="L")]) == ["laterality"]
