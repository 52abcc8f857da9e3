"""Paired tests agree with scipy, with brute force, and with published worked examples."""

import itertools

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from breastbench.errors import UserError
from breastbench.metrics import (
    compute_metrics,
    delong_test,
    holm,
    mcnemar_test,
    min_wilcoxon_p,
    paired_bootstrap,
    wilcoxon_folds,
)
from breastbench.metrics.delong import midranks, structural_components
from breastbench.metrics.stats import metric_function

# --- Wilcoxon -------------------------------------------------------------------------------


def test_wilcoxon_agrees_with_scipy_exact():
    rng = np.random.default_rng(1)
    a = rng.normal(0.8, 0.05, 9)
    b = a - rng.normal(0.02, 0.03, 9)
    ref = stats.wilcoxon(a, b, method="exact")
    res = wilcoxon_folds(a, b)
    assert res["p"] == pytest.approx(ref.pvalue)
    assert res["statistic"] == pytest.approx(ref.statistic)
    assert res["n"] == 9 and res["method"] == "exact" and res["note"] == ""


def test_wilcoxon_five_folds_states_it_cannot_reach_significance():
    a = [0.95, 0.96, 0.97, 0.98, 0.99]
    b = [0.80, 0.81, 0.82, 0.83, 0.84]
    res = wilcoxon_folds(a, b)
    assert res["p"] == pytest.approx(0.0625)
    assert res["min_p"] == pytest.approx(0.0625)
    assert "smallest two-sided exact p-value is 0.0625" in res["note"]
    assert "can never reach p < 0.05" in res["note"]


def test_min_wilcoxon_p_is_two_over_two_to_the_n():
    assert [min_wilcoxon_p(n) for n in (1, 5, 6, 10)] == [1.0, 0.0625, 0.03125, 2 / 1024]
    assert min_wilcoxon_p(5, "greater") == pytest.approx(1 / 32)
    assert wilcoxon_folds(np.arange(6.0) + 1, np.zeros(6))["note"] == ""


def test_wilcoxon_ties_use_exact_enumeration_of_sign_flips():
    # |d| = 1, 2, 2, 3, 4, 5, 6 with one negative: midrank statistic, all 2**7 sign flips.
    d = np.array([1.0, -2.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    res = wilcoxon_folds(d, np.zeros_like(d))
    ranks = stats.rankdata(np.abs(d))
    observed = ranks[d > 0].sum()
    total = ranks.sum()
    flips = [
        sum(r for r, s in zip(ranks, signs) if s)
        for signs in itertools.product([0, 1], repeat=len(d))
    ]
    dev = abs(observed - total / 2)
    expected = np.mean([abs(t - total / 2) >= dev - 1e-9 for t in flips])
    assert res["method"].startswith("exact-permutation")
    assert res["p"] == pytest.approx(expected)


def test_wilcoxon_zero_differences_are_dropped_and_reported():
    a = [0.9, 0.8, 0.7, 0.91 - 0.01, 0.6, 0.5, 0.4]  # 0.91 - 0.01 equals 0.9 only on paper
    b = [0.8, 0.7, 0.6, 0.9, 0.5, 0.4, 0.3]
    res = wilcoxon_folds(a, b)
    assert res["n"] == 7 and res["n_nonzero"] == 6
    assert "1 of 7 paired differences are zero" in res["note"]
    same = wilcoxon_folds([0.5, 0.6], [0.5, 0.6])
    assert same["p"] == 1.0 and "All paired differences are zero" in same["note"]


def test_wilcoxon_rejects_unpaired_input():
    with pytest.raises(UserError):
        wilcoxon_folds([0.1, 0.2], [0.1])


# --- McNemar -------------------------------------------------------------------------------


def _predictions_with_counts(a_only, b_only, both=10, neither=5):
    """Labels and predictions whose 2x2 agreement table has the given cells."""
    cells = [(1, 1, both), (1, 0, a_only), (0, 1, b_only), (0, 0, neither)]
    y, pa, pb = [], [], []
    for a_ok, b_ok, count in cells:
        y += [1] * count
        pa += [1 if a_ok else 0] * count
        pb += [1 if b_ok else 0] * count
    return np.array(y), np.array(pa), np.array(pb)


def test_mcnemar_agresti_presidential_approval_example():
    # Agresti's worked McNemar example (An Introduction to Categorical Data Analysis, 2nd ed.
    # 2007, Table 8.1; Categorical Data Analysis, 2nd ed. 2002, Table 10.1): approval of a head
    # of government's performance by the same 1600 people in two surveys, cells 794, 150, 86,
    # 570. Agresti reports z = (150 - 86) / sqrt(150 + 86) = 4.17, i.e. z^2 = 17.36.
    y, pa, pb = _predictions_with_counts(150, 86, both=794, neither=570)
    res = mcnemar_test(y, pa, pb, correction=False)
    assert (res["b"], res["c"], res["n"]) == (150, 86, 1600)
    assert np.sqrt(res["statistic"]) == pytest.approx(4.17, abs=0.005)
    assert res["p"] == pytest.approx(stats.chi2.sf(64**2 / 236, 1))
    corrected = mcnemar_test(y, pa, pb)  # b + c >= 25 -> chi-square with continuity correction
    assert corrected["statistic"] == pytest.approx(63**2 / 236)
    assert corrected["effect"] == pytest.approx((150 - 86) / 1600)


def test_mcnemar_exact_small_counts():
    # Hand computation: b=2, c=8, p = 2 * P(X <= 2 | Bin(10, 1/2)) = 2 * 56 / 1024.
    y, pa, pb = _predictions_with_counts(2, 8)
    res = mcnemar_test(y, pa, pb)
    assert res["method"] == "exact binomial"
    assert res["p"] == pytest.approx(112 / 1024)
    assert res["p"] == pytest.approx(stats.binomtest(2, 10, 0.5).pvalue)
    assert mcnemar_test(y, pa, pa)["p"] == 1.0


# --- Holm -----------------------------------------------------------------------------------


def test_holm_hand_example():
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> running max 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])  # capped at 1, monotone
    out = holm([0.01, np.nan, 0.02])
    assert np.isnan(out[1]) and out[[0, 2]] == pytest.approx([0.02, 0.02])


# --- DeLong ---------------------------------------------------------------------------------


def brute_force_delong(y, a, b):
    """DeLong et al. (1988) directly from the pairwise kernel, O(m*n)."""

    def components(s):
        pos, neg = s[y == 1], s[y == 0]
        psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
        return psi.mean(), psi.mean(axis=1), psi.mean(axis=0)

    auc_a, v10a, v01a = components(a)
    auc_b, v10b, v01b = components(b)
    m, n = len(v10a), len(v01a)
    s10, s01 = np.cov([v10a, v10b]), np.cov([v01a, v01b])
    var = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / m + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / n
    z = (auc_a - auc_b) / np.sqrt(var)
    return auc_a, auc_b, z, 2 * stats.norm.sf(abs(z))


def test_midranks_match_scipy():
    x = np.array([3.0, 1.0, 2.0, 2.0, 5.0, 3.0, 3.0])
    assert midranks(x) == pytest.approx(stats.rankdata(x))


def test_delong_matches_brute_force_and_sklearn_with_ties():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 120)
    a = np.round(y + rng.normal(0, 1.0, 120), 1)  # rounding creates ties
    b = np.round(y + rng.normal(0, 1.5, 120), 1)
    res = delong_test(y, a, b)
    auc_a, auc_b, z, p = brute_force_delong(y, a, b)
    assert res["auc_a"] == pytest.approx(roc_auc_score(y, a)) == pytest.approx(auc_a)
    assert res["auc_b"] == pytest.approx(roc_auc_score(y, b)) == pytest.approx(auc_b)
    assert res["z"] == pytest.approx(z) and res["p"] == pytest.approx(p)
    assert res["ci_low"] < res["diff"] < res["ci_high"]
    assert res["ci_high"] - res["diff"] == pytest.approx(1.959964 * res["se"], rel=1e-5)


def test_delong_hanley_mcneil_rating_example():
    # Hanley & McNeil (1982), Radiology 143:29-36, Table 1: CT ratings (1-5) of 58 normal and
    # 51 abnormal patients; published area 0.893 with SE 0.032 (their exponential
    # approximation). DeLong's nonparametric SE for the same data is close (0.031).
    neg = np.repeat([1, 2, 3, 4, 5], [33, 6, 6, 11, 2])
    pos = np.repeat([1, 2, 3, 4, 5], [3, 2, 2, 11, 33])
    y = np.r_[np.zeros(58), np.ones(51)]
    scores = np.r_[neg, pos].astype(float)
    assert round(delong_test(y, scores, -scores)["auc_a"], 3) == 0.893
    _, v10, v01 = structural_components(y.astype(int), scores)
    single_se = np.sqrt(v10.var(ddof=1) / 51 + v01.var(ddof=1) / 58)
    assert single_se == pytest.approx(0.032, abs=0.002)


def test_delong_identical_scores_and_bad_input():
    y = np.array([0, 0, 1, 1, 0, 1])
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    res = delong_test(y, s, s)
    assert res["diff"] == 0 and res["p"] == 1.0
    with pytest.raises(UserError, match="two positives"):
        delong_test(np.array([0, 0, 0, 1]), s[:4], s[:4])


# --- paired bootstrap -----------------------------------------------------------------------


def _two_models(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    good = np.clip(0.6 * y + rng.normal(0.2, 0.2, n), 0, 1)
    weak = np.clip(0.2 * y + rng.normal(0.4, 0.25, n), 0, 1)
    return y, good, weak


def test_paired_bootstrap_is_seeded_and_reproducible():
    y, good, weak = _two_models()
    r1 = paired_bootstrap(y, good, weak, "auc", n_boot=500, seed=7)
    r2 = paired_bootstrap(y, good, weak, "auc", n_boot=500, seed=7)
    r3 = paired_bootstrap(y, good, weak, "auc", n_boot=500, seed=8)
    assert r1 == r2
    assert r1["ci_low"] != r3["ci_low"]
    assert r1["difference"] == pytest.approx(roc_auc_score(y, good) - roc_auc_score(y, weak))
    assert r1["ci_low"] < r1["difference"] < r1["ci_high"]
    assert r1["ci_low"] > 0 and r1["p"] == pytest.approx(2 / 501)


def test_paired_bootstrap_no_difference_and_groups():
    y, good, _ = _two_models(n=200)
    same = paired_bootstrap(y, good, good, "accuracy", n_boot=200, seed=0)
    assert same["difference"] == 0 and same["p"] == 1.0
    groups = np.repeat(np.arange(50), 4)
    res = paired_bootstrap(y, good, 1 - good, "auc", n_boot=200, seed=0, groups=groups)
    assert res["n_groups"] == 50 and res["n"] == 200


def test_paired_bootstrap_multiclass_metric_name():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 150)
    pa = np.eye(3)[y] * 0.6 + 0.4 / 3
    pb = np.full((150, 3), 1 / 3)
    res = paired_bootstrap(
        y, pa, pb, "kappa_quadratic", n_boot=200, seed=0, classes=["a", "b", "c"]
    )
    assert res["difference"] == pytest.approx(1.0) and res["ci_low"] > 0.5
    with pytest.raises(UserError, match="unknown metric"):
        paired_bootstrap(y, pa, pb, "auc", n_boot=200, classes=["a", "b", "c"])


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("missing_class", [False, True])
def test_fast_metric_functions_equal_compute_metrics(n_classes, missing_class):
    rng = np.random.default_rng(n_classes)
    classes = [f"c{k}" for k in range(n_classes)]
    y = rng.integers(0, n_classes, 120)
    logits = rng.normal(size=(120, n_classes)) + np.eye(n_classes)[y]
    logits[:, 0] += 0.3 * np.round(rng.normal(size=120))  # some ties
    prob = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    if missing_class:
        keep = y != n_classes - 1
        y, prob = y[keep], prob[keep]
    reference = compute_metrics(y, prob, classes, warnings_out=[])
    for name, value in reference.items():
        got = metric_function(name, classes)(y, prob)
        assert got == pytest.approx(value, nan_ok=True), name


@pytest.mark.parametrize("metric", ["auc", "accuracy"])
@pytest.mark.parametrize("grouped", [False, True])
def test_vectorised_bootstrap_equals_the_resampling_loop(metric, grouped):
    """Accuracy and AUC score all resamples at once as weights; the numbers must not change."""
    from breastbench.metrics.fast import fast_metric

    rng = np.random.default_rng(7)
    n = 120
    y = rng.integers(0, 2, n)
    pa, pb = np.round(rng.random(n), 2), np.round(rng.random(n), 2)  # ties on purpose
    groups = rng.integers(0, 30, n) if grouped else None
    fn = fast_metric(metric, ["a", "b"])
    fast = paired_bootstrap(y, pa, pb, metric, 400, 5, classes=["a", "b"], groups=groups)
    loop = paired_bootstrap(
        y, pa, pb, lambda t, p: fn(t, p), 400, 5, classes=["a", "b"], groups=groups
    )
    for k in ("p", "ci_low", "ci_high", "difference", "n_valid"):
        assert fast[k] == pytest.approx(loop[k], abs=1e-12)
