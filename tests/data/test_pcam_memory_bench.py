"""bench/pcam_memory.py --smoke: the full-size PCam memory benchmark's pipeline on 2,048 patches."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "pcam_memory.py"


def test_pcam_memory_smoke(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--smoke", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["n_images"] == result["n"] == 2048
    assert result["counts"] == {"train": 1638, "valid": 204, "test": 206}
    assert result["audit_ok"] and result["leaks"] == 0
    assert result["n_groups"] == 24  # 8 slides per split, grouped by the meta CSVs' wsi column
    assert result["cache_shape"] == [2048, 96, 96, 3]
    assert result["peak_rss_gib"] < 2.0 and result["under_target"]
    assert not list(tmp_path.iterdir())  # the temporary data and cache are removed
