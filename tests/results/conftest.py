"""Synthetic trees shared by the results-layer end-to-end tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from breastbench.data import synthesize


@pytest.fixture(scope="session")
def synth(tmp_path_factory) -> Path:
    """Synthetic BreakHis and BACH trees (the demo's small size)."""
    root = tmp_path_factory.mktemp("synth_results")
    synthesize("synthetic-breakhis", root / "breakhis", seed=0)
    synthesize("synthetic-bach", root / "bach", seed=0)
    return root
