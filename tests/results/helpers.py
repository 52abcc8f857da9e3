"""Helpers of the results-layer end-to-end tests: synthetic datasets, strict JSON, predict."""

from __future__ import annotations

from pathlib import Path


def datasets(synth: Path, mags=(200,)) -> list[dict]:
    """The two datasets of the histopathology study, on synthetic trees."""
    return [
        {
            "name": "breakhis",
            "source": "synthetic-breakhis",
            "root": str(synth / "breakhis"),
            "task": "binary",
            "magnifications": list(mags),
        },
        {
            "name": "bach",
            "source": "synthetic-bach",
            "root": str(synth / "bach"),
            "task": "binary",
            "cross_validate": False,
        },
    ]


def strict_json_files(root: Path) -> list[Path]:
    """Every JSON file under ``root``, each parsed with NaN/Infinity refused."""
    import json

    def refuse(const):
        raise ValueError(f"non-standard JSON constant {const}")

    files = sorted(root.rglob("*.json"))
    for f in files:
        json.loads(f.read_text(), parse_constant=refuse)
    return files


def check_predict(out: Path, tmp_path: Path, runs: str = "*") -> int:
    """Run ``predict`` on each checkpoint of ``runs`` (a glob); assert it equals the run.

    Every probability column must agree to 1e-6; returns how many checkpoints were checked.
    """
    import numpy as np
    import pandas as pd

    from breastbench.cli import main

    checked = 0
    for ckpt in sorted((out / "runs").glob(f"{runs}/checkpoint")):
        expected = pd.read_csv(ckpt.parent / "predictions.csv")
        target = tmp_path / f"{ckpt.parent.name}.csv"
        assert main(["predict", str(ckpt.parent), *expected["path"], "-o", str(target)]) == 0
        got = pd.read_csv(target).set_index("path").loc[expected["path"]]
        for col in [c for c in expected.columns if c.startswith("prob_")]:
            np.testing.assert_allclose(got[col], expected[col], atol=1e-6, err_msg=ckpt.parent.name)
        checked += 1
    return checked
