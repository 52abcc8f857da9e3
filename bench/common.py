"""Shared helpers of the benchmark scripts: machine description, timing, result files.

Every figure a script reports is a ratio of two variants measured side by side in the same
process (alternated, repeated, medians), so noise from other jobs on a shared machine cancels
as far as possible. Each script prints one JSON object and writes it to
``bench/results/<name>-<host>.json``.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # run without install

# One torch thread by default: on a shared 2-core machine with other jobs running, OpenMP
# parallel regions of 2 threads were measured 10-400x slower on small ops (barrier waits while
# one thread is descheduled), which swamps every ratio. BENCH_THREADS=N overrides.
THREADS = int(os.environ.get("BENCH_THREADS", "1"))


def add_smoke(ap) -> None:
    """Add ``--smoke``: tiny sizes, a few seconds, nothing written to ``results/``.

    ``tests/test_bench_smoke.py`` runs every script this way, so a changed signature in the
    code a benchmark calls fails the test suite instead of the next benchmark run.
    """
    ap.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes to check the script itself (seconds); prints the JSON, writes no file",
    )


def set_threads() -> None:
    """Apply ``THREADS`` to torch (CPU only; harmless on GPU runs)."""
    import torch

    torch.set_num_threads(THREADS)


def cpu_model() -> str:
    """The CPU model string from /proc/cpuinfo (or platform.processor())."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict:
    """CPU model, cores, torch threads, GPU (if any) and library versions."""
    import torch

    info = {
        "host": socket.gethostname(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "gpu": None,
    }
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info["gpu"] = {"name": p.name, "memory_gib": round(p.total_memory / 2**30, 1)}
    return info


def median(values) -> float:
    """Median of a list of numbers."""
    return float(statistics.median(values))


class Timer:
    """``with Timer() as t: ...`` then ``t.s`` seconds (synchronises CUDA when asked)."""

    def __init__(self, cuda: bool = False):
        self.cuda = cuda
        self.s = 0.0

    def __enter__(self):
        if self.cuda:
            import torch

            torch.cuda.synchronize()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        if self.cuda:
            import torch

            torch.cuda.synchronize()
        self.s = time.perf_counter() - self._t0
        return False


def write_result(name: str, result: dict, smoke: bool = False) -> dict:
    """Add the machine, print the JSON object, write ``results/<name>-<host>.json``.

    A smoke run (``smoke=True``) only prints: its tiny figures must not replace a real result.
    """
    result = {"benchmark": name, "machine": machine(), "smoke": smoke, **result}
    if not smoke:
        RESULTS.mkdir(parents=True, exist_ok=True)
        host = result["machine"]["host"].split(".")[0] or "host"
        (RESULTS / f"{name}-{host}.json").write_text(json.dumps(result, indent=2, default=float))
    print(json.dumps(result, default=float))
    return result


def synth_breakhis(
    root: Path, per_patient: int, magnification: int = 200, seed: int = 0, tile_hw=(460, 700)
):
    """Synthetic BreakHis tree of real-size 700x460 PNG tiles; the manifest of one magnification.

    16 patients (2 per subtype) x ``per_patient`` images per magnification; the manifest gets
    5 patient-level folds, as in the study. Smoke runs pass small ``tile_hw``.
    """
    from breastbench.data import assign_folds, load_manifest, synthesize
    from breastbench.data.synthetic import SynthSize

    size = SynthSize(2, per_patient, tuple(tile_hw), 2, (72, 96), 2, (96, 72))
    synthesize("synthetic-breakhis", Path(root), seed=seed, size=size)
    df = load_manifest("synthetic-breakhis", str(root), task="binary")
    df = df[df["magnification"] == magnification].reset_index(drop=True)
    attrs = dict(df.attrs)
    df = assign_folds(df, k=5, seed=0)
    df.attrs.update({k: v for k, v in attrs.items() if k not in df.attrs})
    return df
