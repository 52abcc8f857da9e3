"""`breastbench plan`'s power section: the declared comparisons sized from published counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from breastbench.cli import main

STUDY = Path(__file__).parents[2] / "configs" / "breakhis_cnn_vs_vlm.yaml"


def plan_json(capsys, *args) -> dict:
    assert main(["plan", "--skip-preflight", str(STUDY), "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow
def test_plan_sizes_every_declared_comparison(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no data here: published patient counts are used
    section = plan_json(capsys)["power"]
    assert section["assumption"]["auc"] == 0.8 and section["assumption"]["correlation"] == 0.5
    rows = section["comparisons"]
    assert rows and all("vs" in r["pair"] for r in rows)
    cv = [r for r in rows if "→" not in r["subset"]]
    ext = [r for r in rows if "→" in r["subset"]]
    assert cv and ext
    for r in cv:  # BreakHis: 82 published patients over 5 folds
        assert r["patients"] == 82 and r["test_sets"] == 5 and "Spanhol" in r["patients_from"]
        assert r["alpha_test"] == pytest.approx(0.05 / r["family_size"])
        assert 0.1 < r["mdd"] < 0.4  # 82 patients cannot see a few AUC points
        assert r["patients_needed"] > 82  # nor a difference of 0.05
    for r in ext:  # BACH publishes no patient count: images stand in, and the plan says so
        assert r["test_sets"] == 1 and "patients unknown" in r["patients_from"]
        assert r["mdd"] < min(c["mdd"] for c in cv)  # 400 in one set beats 82 over 5
    # scores that agree more (higher correlation) leave a smaller difference detectable
    close = plan_json(capsys, "--assume-correlation", "0.9")["power"]["comparisons"]
    assert close[0]["mdd"] < 0.75 * rows[0]["mdd"]
    # a larger difference needs fewer patients
    big = plan_json(capsys, "--assume-difference", "0.15")["power"]["comparisons"]
    assert big[0]["patients_needed"] < rows[0]["patients_needed"] / 4


def test_plan_prints_the_assumption_and_refuses_impossible_ones(capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert main(["plan", "--skip-preflight", str(STUDY)]) == 0
    out = capsys.readouterr().out
    assert "power of the declared comparisons" in out and "Assumed: AUC 0.8" in out
    assert "82 patients" in out
    assert main(["plan", "--skip-preflight", str(STUDY), "--assume-auc", "1.2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --assume-auc 1.2: give an AUC in (0.5, 1), e.g. 0.8"]
