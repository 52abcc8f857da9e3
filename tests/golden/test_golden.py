"""Golden numbers: a refactor keeps every metric and every prediction bit for bit.

``demo_small.yaml`` (every family and mode of configs/demo.yaml, shrunk to 2 folds and 1 epoch)
and ``variant.yaml`` (label efficiency with draws, kNN/SimpleShot/tuned probe, in-context shots,
text context, a LoRA sweep) run on synthetic BreakHis/BACH trees on CPU; their
``summary/metrics_by_run.csv`` and every run's ``predictions.csv`` must equal the references in
``reference/`` as text (17 significant digits, so a last-bit change fails). Both run with one
torch thread, so the reference holds on any core count.

The references were recorded from the tree before the architecture refactor (issue 20). After an
*intended* change of numbers, re-record them and say why in the commit::

    .venv/bin/python tests/golden/test_golden.py --record
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd
import pytest

HERE = Path(__file__).parent
REFERENCE = HERE / "reference"
CONFIGS = ("demo_small", "variant")
# columns that legitimately differ between two runs of the same numbers
VOLATILE = ("seconds", "path", "time", "started", "finished")


def _volatile(column: str) -> bool:
    return any(v in column for v in VOLATILE)


def _tables(out: Path) -> dict[str, pd.DataFrame]:
    """The run folder's metrics and predictions as deterministic, sorted tables."""
    metrics = pd.read_csv(out / "summary" / "metrics_by_run.csv", dtype=str, keep_default_na=False)
    metrics = metrics[[c for c in metrics.columns if not _volatile(c)]]
    metrics = metrics.sort_values(list(metrics.columns)).reset_index(drop=True)
    parts = []
    for pred in sorted((out / "runs").glob("*/predictions.csv")):
        df = pd.read_csv(pred, dtype=str, keep_default_na=False)
        df.insert(0, "run_id", pred.parent.name)
        parts.append(df[[c for c in df.columns if not _volatile(c)]])
    preds = pd.concat(parts, ignore_index=True)
    return {"metrics_by_run": metrics, "predictions": preds}


def _run(name: str, data: Path, out: Path) -> dict[str, pd.DataFrame]:
    import torch

    from breastbench.cli import main
    from breastbench.data import synthesize

    for kind in ("synthetic-breakhis", "synthetic-bach"):
        if not (data / kind).exists():
            synthesize(kind, data / kind)
    os.environ["GOLDEN_DATA"] = str(data)
    # one intra-op thread: a CPU reduction split over N threads sums in another order, so the
    # last bits of the reference would depend on the machine's core count (and on pytest-xdist)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["run", str(HERE / f"{name}.yaml"), "--out", str(out), "--no-report"]) == 0
    finally:
        torch.set_num_threads(threads)
    return _tables(out)


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", CONFIGS)
def test_numbers_match_the_recorded_reference(name, tmp_path, monkeypatch):
    monkeypatch.setenv("GOLDEN_DATA", str(tmp_path / "data"))
    got = _run(name, tmp_path / "data", tmp_path / "out")
    for table, df in got.items():
        ref = pd.read_csv(REFERENCE / f"{name}.{table}.csv.gz", dtype=str, keep_default_na=False)
        assert list(df.columns) == list(ref.columns), f"{name} {table}: columns changed"
        assert len(df) == len(ref), f"{name} {table}: {len(df)} rows, reference {len(ref)}"
        diff = (df != ref).any(axis=1)
        assert not diff.any(), (
            f"{name} {table}: {int(diff.sum())} rows differ from the reference, first:\n"
            f"{df[diff].head(3).to_string()}\nreference:\n{ref[diff].head(3).to_string()}"
        )


def _record() -> None:
    import tempfile

    REFERENCE.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name in CONFIGS:
            for table, df in _run(name, Path(tmp) / "data", Path(tmp) / name).items():
                df.to_csv(REFERENCE / f"{name}.{table}.csv.gz", index=False)
                print(f"recorded {name}.{table}: {len(df)} rows")


if __name__ == "__main__" and "--record" in sys.argv:
    _record()
