"""Suite-wide guards (no network, no display) and the synthetic trees every layer shares."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Set before any test imports transformers/huggingface_hub/open_clip: every hub lookup fails
# fast instead of trying the network, so a test that would need a download fails loudly.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs one pytest-xdist worker per core: each gets one intra-op thread (and so
    # do the CLI subprocesses it starts), instead of every worker spinning one per core
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    """Synthetic BreakHis and BACH trees (the demo's small size), written once per session.

    Read-only for tests: the experiment, results and safety tests all read the same trees
    rather than each writing its own copy.
    """
    from breastbench.data import synthesize

    root = tmp_path_factory.mktemp("synth")
    synthesize("synthetic-breakhis", root / "breakhis", seed=0)
    synthesize("synthetic-bach", root / "bach", seed=0)
    return root


@pytest.fixture(scope="session")
def synth(synth_root) -> Path:
    """The shared synthetic trees under the name the results-layer tests use."""
    return synth_root
