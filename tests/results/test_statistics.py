"""The analysis' statistics: fold-aware tests, replicates, bounded intervals, decidable families.

Also the corrections with undefined p-values against statsmodels.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from breastbench.results import CompareSpec
from breastbench.results.analysis import write_summary

sys.path.insert(0, str(Path(__file__).parent))
from statfolder import cv_key, fold_frame, write_grid, write_run  # noqa: E402

BOUNDED = ("auc", "accuracy", "f1", "precision", "recall", "specificity", "balanced_accuracy")


def _noisy_scores(rng, y, skill):
    """Scores where ``skill`` shifts the positives up, with label-independent noise."""
    return 1.0 / (1.0 + np.exp(-(rng.normal(size=len(y)) + skill * (2 * y - 1))))


def make_cv(tmp_path, skills, n_folds=5, n_patients=40, images=1, seed=0, transform=None):
    """A CV folder: one configuration per ``skills`` entry (model label -> skill per fold)."""
    rng = np.random.default_rng(seed)
    keys = []
    for model, skill in skills.items():
        for f in range(n_folds):
            frame = fold_frame(f, n_patients, images)
            s = skill[f] if isinstance(skill, (list, tuple)) else skill
            y = frame["target"].to_numpy()
            if s == "perfect":
                prob = np.where(y == 1, 0.9, 0.1) + rng.uniform(-0.05, 0.05, len(y))
            elif s == "chance":
                prob = rng.uniform(0, 1, len(y))
            else:
                prob = _noisy_scores(rng, y, s)
            if transform is not None and model in transform:
                prob = transform[model](f, prob)
            key = cv_key(model, f)
            write_run(tmp_path, key, frame, prob)
            keys.append(key)
    write_grid(tmp_path, keys)
    return tmp_path


def _auc_rows(result):
    comp = result["comparisons"]
    return comp[comp["metric"] == "auc"].sort_values(["config_a", "config_b", "test"])


def test_monotone_transform_per_fold_changes_no_comparison(tmp_path):
    """AUC within a fold ignores a monotone transform of that fold's scores: so must every test."""
    skills = {"A": [0.3, 1.0, 0.5, 1.5, 0.8], "B": 0.6, "C": [0.2, 0.9, 0.1, 1.2, 0.4]}
    plain = write_summary(make_cv(tmp_path / "plain", skills, n_patients=30), CompareSpec())
    transforms = {
        "A": lambda f, p: [p**3, np.sqrt(p), 0.5 * p, 1 / (1 + np.exp(-20 * (p - 0.7))), p][f]
    }
    bent = write_summary(
        make_cv(tmp_path / "bent", skills, n_patients=30, transform=transforms), CompareSpec()
    )
    a, b = _auc_rows(plain), _auc_rows(bent)
    assert len(a) == 4 and set(a["test"]) == {"bootstrap", "wilcoxon"}
    assert any(a["config_a"].str.contains("__A__") | a["config_b"].str.contains("__A__"))
    for col in ("p", "estimate", "effect", "ci_low", "ci_high", "p_adj", "value_a", "value_b"):
        np.testing.assert_allclose(a[col].to_numpy(float), b[col].to_numpy(float), atol=1e-12)
    # the pooled AUC, which mixes differently transformed folds, does change: descriptive only
    pa, pb = (r["pooled"].set_index(["config_id", "level"])["auc"] for r in (plain, bent))
    assert not np.allclose(pa.to_numpy(), pb.to_numpy())
    pooled_csv = pd.read_csv(tmp_path / "plain" / "summary" / "pooled.csv")
    assert pooled_csv["description"].str.startswith("descriptive only").all()


def test_ties_on_every_fold_are_never_significant(tmp_path):
    folder = make_cv(tmp_path, {"A": "perfect", "B": "perfect"})
    comp = write_summary(folder, CompareSpec())["comparisons"]
    auc = comp[comp["metric"] == "auc"]
    assert (auc["estimate"] == 0).all() and (auc["p"] == 1).all()
    assert not comp["significant"].any()


def test_perfect_vs_chance_is_significant_after_correction_in_the_default_family(tmp_path):
    folder = make_cv(tmp_path, {"Ref": "chance", "Good": "perfect", "Also": "chance"})
    result = write_summary(folder, CompareSpec())
    comp = result["comparisons"]
    # default family: every configuration against the first in grid order (Ref), per subset
    assert set(comp["reference"]) == {"Ref (finetune, aug off)"}
    assert len(comp[(comp["metric"] == "auc") & (comp["role"] == "primary")]) == 2
    good = comp[comp["a"].str.startswith("Good") & (comp["metric"] == "auc")]
    primary = good[good["role"] == "primary"].iloc[0]
    assert primary["test"] == "bootstrap" and primary["unit"] == "patients"
    assert primary["n"] == 200 and primary["replicates"] == 5
    assert primary["significant"] and primary["p_adj"] < 0.05
    assert 0 < primary["ci_low"] <= primary["estimate"] <= primary["ci_high"]
    secondary = good[good["role"] == "secondary"].iloc[0]
    assert secondary["test"] == "wilcoxon" and secondary["n"] == 5  # 0.0625 floor: not
    assert not secondary["significant"]
    analysis = (folder / "summary" / "analysis.json").read_text()
    assert "smallest attainable corrected p-value" in analysis
    for col in ("role", "reference", "significant", "alpha", "estimate", "n", "unit"):
        assert col in pd.read_csv(folder / "summary" / "comparisons.csv").columns


def test_primary_wilcoxon_and_an_explicit_reference(tmp_path):
    folder = make_cv(tmp_path, {"Ref": "chance", "Good": "perfect", "Also": "chance"})
    spec = CompareSpec(reference="Also:finetune", primary="wilcoxon")
    comp = write_summary(folder, spec)["comparisons"]
    assert set(comp["reference"]) == {"Also (finetune, aug off)"}
    assert set(comp[comp["role"] == "primary"]["test"]) == {"wilcoxon"}
    assert {a.split(" ")[0] for a in comp["a"]} == {"Ref", "Good"}


def test_bootstrap_resamples_are_sized_to_the_family(tmp_path):
    skills = {f"M{i}": 1.0 for i in range(30)}
    folder = make_cv(tmp_path, skills, n_folds=2, n_patients=8)
    result = write_summary(folder, CompareSpec(n_boot=100))
    facts = result["facts"]
    assert facts["largest_family"] == 29
    assert facts["min_corrected_p"] < 0.05
    assert facts["n_boot"] >= 4 * 29 / 0.05 - 1


def test_label_efficiency_three_folds_five_draws_counts_three(tmp_path):
    rng = np.random.default_rng(1)
    keys = []
    for model in ("A", "B"):
        for f in range(3):
            frame = fold_frame(f, 20)
            y = frame["target"].to_numpy()
            for d in range(5):
                key = cv_key(model, f, mode="knn", shots="1", draw=d)
                write_run(tmp_path, key, frame, _noisy_scores(rng, y, 0.8 if model == "A" else 0))
                keys.append(key)
    write_grid(tmp_path, keys)
    shots = {"mode": "knn", "shots": "1"}
    spec = CompareSpec(pairs=[[{**shots, "model": "A"}, {**shots, "model": "B"}]])
    result = write_summary(tmp_path, spec)
    agg = result["aggregate"]
    assert (agg["n"] == 3).all() and (agg["unit"] == "folds").all()
    assert (agg["n_runs"] == 15).all()
    comp = result["comparisons"]
    wil = comp[comp["test"] == "wilcoxon"]
    assert (wil["n"] == 3).all() and (wil["unit"] == "folds").all()
    assert (comp["replicates"] == 3).all()
    assert comp["a"].str.contains("1 shots").all()
    # without a pair naming shots, label-efficiency configurations are not compared
    assert write_summary(tmp_path, CompareSpec())["comparisons"].empty
    # the t interval uses the 3 fold means
    from scipy import stats

    metrics = result["metrics_by_run"]
    a = metrics[metrics["model"] == "A"].groupby("fold")["nll"].mean()
    row = agg[(agg["model"] == "A") & (agg["metric"] == "nll")].iloc[0]
    lo, hi = stats.t.interval(0.95, 2, loc=a.mean(), scale=stats.sem(a))
    assert row["ci_method"] == "t"
    assert row["ci_low"] == pytest.approx(lo) and row["ci_high"] == pytest.approx(hi)


def test_bounded_intervals_stay_in_range_on_noisy_folds(tmp_path):
    skills = {"A": [0.1, 3.0, -0.5, 2.5, 0.0], "B": [-2, 2, -2, 2, 0], "C": "perfect"}
    result = write_summary(make_cv(tmp_path, skills, n_patients=6), CompareSpec())
    agg = result["aggregate"]
    bounded = agg[agg["metric"].isin([*BOUNDED, "ece", "mce", "brier", "ece_equal_mass"])]
    assert len(bounded) and bounded["ci_method"].str.startswith("logit t").all()
    assert (bounded["ci_low"] >= 0).all() and (bounded["ci_high"] <= 1).all()
    assert (bounded["ci_low"] <= bounded["ci_high"]).all()
    assert (agg[agg["metric"] == "nll"]["ci_method"] == "t").all()


def test_no_interval_at_n_one():
    from breastbench.metrics.stats import replicate_interval

    lo, hi, method = replicate_interval([0.7], (0.0, 1.0))
    assert np.isnan(lo) and np.isnan(hi) and method == ""
    assert replicate_interval([1.0, 1.0, 1.0], (0.0, 1.0))[:2] == (1.0, 1.0)


def test_corrections_ignore_undefined_p_values_like_statsmodels():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    from breastbench.metrics.stats import bonferroni, holm

    rng = np.random.default_rng(0)
    for _ in range(50):
        p = rng.uniform(0, 0.2, rng.integers(1, 12))
        p[rng.uniform(size=len(p)) < 0.3] = np.nan
        ok = ~np.isnan(p)
        for ours, method in ((bonferroni, "bonferroni"), (holm, "holm")):
            got = ours(p)
            assert np.isnan(got[~ok]).all()
            if ok.any():
                want = multitest.multipletests(p[ok], method=method)[1]
                np.testing.assert_allclose(got[ok], want, atol=1e-12)
    np.testing.assert_allclose(
        bonferroni([0.01, 0.02, np.nan, 0.2]), [0.03, 0.06, np.nan, 0.6], equal_nan=True
    )


def test_comparison_labels_are_unique_and_tied_to_one_configuration(tmp_path):
    folder = make_cv(tmp_path, {"A": 1.0, "B": 0.5, "C": 0.0}, n_folds=3, n_patients=10)
    comp = write_summary(folder, CompareSpec(pairs=[["A", "B"], ["A", "C"], ["B", "C"]]))[
        "comparisons"
    ]
    ids = comp[["pair", "subset", "a", "b", "metric", "test"]].apply(tuple, axis=1)
    assert ids.is_unique
    assert (comp.groupby("a")["config_a"].nunique() == 1).all()
