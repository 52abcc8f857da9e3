"""Power and minimum detectable difference: ``breastbench power`` and its simulation.

The acceptance test draws a pilot run folder from a known model of two correlated scorers,
asks ``breastbench power`` how many patients detect the model's true AUC difference with 80%
power, then runs the analysis' own test (the fold-aware bootstrap) on fresh studies of that
many patients drawn from the same model: the share that rejects must be 0.8 within Monte-Carlo
error.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from breastbench.cli import main
from breastbench.metrics.power import (
    minimum_detectable_difference,
    patients_needed,
    power_at,
    simulated_differences,
)
from breastbench.metrics.stats import fold_aware_bootstrap
from breastbench.results.analysis import write_summary
from breastbench.results.folder import RunFolder

from .statfolder import CLASSES, cv_key, fold_frame, write_grid, write_run

FOLDS = 5
MU_A, MU_B, RHO = 1.6, 1.2, 0.5  # binormal separations (unit variance) and score correlation
TRUE_DIFF = norm.cdf(MU_A / np.sqrt(2)) - norm.cdf(MU_B / np.sqrt(2))  # AUC(A) - AUC(B)


def scores(rng, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positive probabilities of A and B: binormal, correlation RHO given the class."""
    common = rng.normal(size=len(y))
    a = MU_A * y + np.sqrt(RHO) * common + np.sqrt(1 - RHO) * rng.normal(size=len(y))
    b = MU_B * y + np.sqrt(RHO) * common + np.sqrt(1 - RHO) * rng.normal(size=len(y))
    return 1 / (1 + np.exp(-a)), 1 / (1 + np.exp(-b))


def pilot(root, per_fold: int, seed: int = 0, images: int = 1):
    """A 5-fold run folder of A and B drawn from the model, analysed (summary/ written)."""
    rng = np.random.default_rng(seed)
    keys = []
    for fold in range(FOLDS):
        frame = fold_frame(fold, per_fold, images)
        pa, pb = scores(rng, frame["target"].to_numpy())
        for model, p in (("A", pa), ("B", pb)):
            keys.append(cv_key(model, fold))
            write_run(root, keys[-1], frame, p)
    write_grid(root, keys)
    write_summary(root)
    return root


def power_json(root, *args) -> pd.DataFrame:
    """``breastbench power OUT --json`` as a table (exit code checked)."""
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["power", str(root), "--json", *args]) == 0
    return pd.DataFrame(json.loads(buf.getvalue()))


def fresh_study_rejects(rng, patients: int, seed: int) -> bool:
    """One new study of ``patients`` patients from the model, tested as the analysis tests it."""
    per_fold = max(2, int(round(patients / FOLDS)))
    units = []
    for fold in range(FOLDS):
        y = np.arange(per_fold) % 2
        pa, pb = scores(rng, y)
        units.append(
            {
                "stratum": (("fold", fold),),
                "y": y,
                "groups": np.arange(per_fold).astype(str),
                "probs_a": [pa],
                "probs_b": [pb],
            }
        )
    r = fold_aware_bootstrap(units, "auc", CLASSES, n_boot=400, seed=seed)
    return r["p"] < 0.05


@pytest.mark.slow
def test_detection_rate_at_the_reported_size_is_the_nominal_power(tmp_path):
    """Acceptance: fresh studies of the reported size detect the true difference 80% of times."""
    root = pilot(tmp_path / "run", per_fold=120)
    table = power_json(root, "--difference", f"{TRUE_DIFF:.6f}", "--alpha", "0.05")
    row = table[table["metric"] == "auc"].iloc[0]
    needed = int(row["patients_needed"])
    assert 50 < needed < 5000  # a real size, neither the floor nor the cap
    rng = np.random.default_rng(123)
    studies = 300
    rate = np.mean([fresh_study_rejects(rng, needed, seed=i) for i in range(studies)])
    mc = np.sqrt(0.8 * 0.2 / studies)
    # Monte-Carlo error of the studies (3 SE) plus the pilot's own estimation error of the size
    assert abs(rate - 0.8) < 3 * mc + 0.04, (needed, rate)


def test_mdd_shrinks_with_the_design_and_matches_the_normal_formula(tmp_path):
    """A weak design (20 patients per fold) cannot detect what a strong one (80) can."""
    weak = power_json(pilot(tmp_path / "weak", per_fold=20), "--draws", "1000")
    strong = power_json(pilot(tmp_path / "strong", per_fold=80), "--draws", "1000")
    for metric in ("auc", "accuracy"):
        w = weak[weak["metric"] == metric].iloc[0]
        s = strong[strong["metric"] == metric].iloc[0]
        assert w["mdd"] > 1.5 * s["mdd"]  # 4x the patients: about half the MDD
        assert w["mdd"] < 3.0 * s["mdd"]
        for row in (w, s):  # (z_a + z_b) SE for a symmetric simulated estimate
            z = norm.ppf(1 - row["alpha_test"] / 2) + norm.ppf(0.8)
            assert row["mdd"] == pytest.approx(z * row["se"], rel=0.1)
            assert row["difference_source"] == "observed"
            assert row["family_size"] == 1 and row["alpha_test"] == pytest.approx(0.05)
            assert row["n"] == (20 if row is w else 80) * FOLDS and row["unit"] == "patients"


def test_power_rises_with_difference_and_is_alpha_at_zero():
    """The share of rejections is alpha with no difference and climbs to 1 with a large one."""
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.02, 20000)
    assert power_at(noise, 0.0, 0.05) == pytest.approx(0.05, abs=0.01)
    mdd = minimum_detectable_difference(noise, 0.05, 0.8)
    assert mdd == pytest.approx((1.959964 + 0.841621) * 0.02, rel=0.02)
    assert power_at(noise, mdd, 0.05) >= 0.8 > power_at(noise, 0.9 * mdd, 0.05)
    assert power_at(noise, 0.2, 0.05) == 1.0


def test_simulation_resamples_patients_and_is_deterministic(tmp_path):
    """Same seed, same draws; patients with two identical images are one resampling unit."""
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(40) % 2, 2)  # 40 patients x 2 identical images
    pa, pb = scores(rng, np.arange(40) % 2)
    unit = {
        "stratum": (("fold", 0),),
        "y": y,
        "groups": np.repeat(np.arange(40), 2).astype(str),
        "probs_a": [np.repeat(pa, 2)],
        "probs_b": [np.repeat(pb, 2)],
    }
    one = simulated_differences([unit], "auc", CLASSES, None, 500, seed=3)
    assert np.array_equal(one, simulated_differences([unit], "auc", CLASSES, None, 500, seed=3))
    images = {**unit, "groups": np.arange(80).astype(str)}
    by_image = simulated_differences([images], "auc", CLASSES, None, 500, seed=3)
    assert np.std(one) > 1.25 * np.std(by_image)  # ~sqrt(2): the patient is the unit
    # 4x the patients halves the standard error
    big = simulated_differences([unit], "auc", CLASSES, 160, 2000, seed=3)
    assert np.std(big) == pytest.approx(np.std(one) / 2, rel=0.2)
    n, note = patients_needed([unit], "auc", CLASSES, 0.0, 0.05)
    assert np.isnan(n) and note == "no difference to detect"


def test_cli_writes_power_csv_and_refuses_bad_input(tmp_path, capsys):
    """End to end: the table names configurations; bad folders and options are one line."""
    root = pilot(tmp_path / "run", per_fold=16, images=2)
    assert main(["power", str(root), "--draws", "300"]) == 0
    out = capsys.readouterr().out
    assert "A fine-tune vs" in out or "B fine-tune vs" in out
    assert "MDD" in out and "summary/power.csv" in out.replace("\\", "/")
    table = pd.read_csv(RunFolder(root).summary_path("power"))
    assert set(table["metric"]) == {"auc", "accuracy"} and (table["test"] == "bootstrap").all()
    assert (table["n"] == 16 * FOLDS).all() and (table["mdd"] > 0).all()
    comps = pd.read_csv(RunFolder(root).summary_path("comparisons"))
    boot = comps[comps["test"] == "bootstrap"].set_index("metric")["estimate"]
    assert np.allclose(table.set_index("metric")["estimate"].loc[boot.index], boot)
    # not a run folder; a run folder without comparisons; bad options: one line, exit 2
    assert main(["power", str(root), "--power", "1.5"]) == 2
    assert "--power 1.5" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["power", str(empty)]) == 2
    RunFolder(root).summary_path("comparisons").unlink()
    assert main(["power", str(root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err)
    assert "comparisons" in err[1]


def test_report_shows_the_power_column_only_for_matching_rows(tmp_path):
    """The comparisons table gains MDD / patients needed once summary/power.csv exists."""
    from breastbench.report.html import build_report

    root = pilot(tmp_path / "run", per_fold=16)
    page = build_report(root, explain_maps=False)
    assert "MDD / patients needed" not in page.read_text()
    assert main(["power", str(root), "--draws", "300", "--json", "--difference", "0.1"]) == 0
    power = pd.read_csv(RunFolder(root).summary_path("power"))
    auc = power[power["metric"] == "auc"].iloc[0]
    text = build_report(root, explain_maps=False).read_text()
    assert "MDD / patients needed" in text
    assert f"{auc['mdd']:.3f} / {int(auc['patients_needed'])}" in text
    assert "a difference of 0.1" in text


@pytest.mark.parametrize("metric", ["auc", "accuracy", "auc_ovr_macro", "kappa_quadratic"])
def test_vectorised_scores_equal_the_metric_on_resampled_rows(metric):
    """The power simulation's all-draws-at-once scores equal the metric on each resample."""
    from breastbench.metrics.functions import metric_function
    from breastbench.metrics.power import weighted_scorer

    rng = np.random.default_rng(7)
    classes = ["A", "B", "C", "D"] if metric in ("auc_ovr_macro", "kappa_quadratic") else CLASSES
    k = len(classes)
    y = rng.integers(0, k, 40)
    y[:k] = np.arange(k)
    p = rng.dirichlet(np.ones(k), 40)
    p = np.round(p, 1)  # ties
    p = p / p.sum(axis=1, keepdims=True)
    p[np.arange(40), y] += rng.uniform(0, 0.5, 40)
    p[5] = p[6]  # a tie
    w = rng.multinomial(40, np.ones(40) / 40, size=30).astype(float)
    w[0, y == k - 1] = 0  # a class absent from one draw
    fast = weighted_scorer(metric, classes)(y, p, w)
    one = metric_function(metric, classes)
    for row, got in zip(w, fast):
        idx = np.repeat(np.arange(40), row.astype(int))
        assert got == pytest.approx(one(y[idx], p[idx]), abs=1e-12, nan_ok=True)
