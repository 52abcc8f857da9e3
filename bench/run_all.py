"""Run every CPU benchmark (each in its own process) and print one JSON object.

``make bench`` runs this: about 10 minutes on a quiet 2-core CPU machine (the figures and the
total of one run are in ``bench/README.md``). Each script also writes
``bench/results/<name>-<host>.json``. The GPU scripts are added when CUDA is available.

``--smoke`` runs every script, the GPU ones included (tiny models on the CPU), in its smoke mode
(tiny sizes, seconds, no result files): ``tests/test_bench_smoke.py`` does that in ``make
test`` and checks each script's JSON, so a changed signature in the code a benchmark calls
fails the tests instead of the next benchmark run. ``--jobs N`` runs N scripts at a time (for
smoke runs only: timings of scripts sharing the cores are not comparable). ``--only
pcam_memory`` runs the on-demand PCam memory benchmark, which ``make bench`` leaves out.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = [
    "linear_probe",
    "data_pipeline",
    "vlm_lora",
    "mfu",
    "memory",
    "image_cache",
    "ray_overhead",
    "generative_zero_shot",
]
# GPU scripts: each has a CPU smoke mode with tiny models (gpu_check.sh runs gpu_throughput.py
# --auto, so its smoke covers both)
GPU_SCRIPTS = ["gpu_check", "gpu_lora_profile"]
# on demand only (``--only NAME``): minutes and ~18 GB of temporary disk at full size, beyond
# ``make bench``'s 10 minutes; its own smoke mode is tested by tests/data/test_pcam_memory_bench.py
ON_DEMAND = ["pcam_memory"]
# longest first, so that --jobs 2 finishes soonest
SMOKE_ORDER = ["ray_overhead", "gpu_check", "linear_probe", "memory", "image_cache"]


def command(name: str, smoke: bool) -> list[str]:
    """The command line of one script."""
    if name == "gpu_check":
        return ["bash", str(HERE / "gpu_check.sh"), *(["--smoke"] if smoke else [])]
    return [sys.executable, str(HERE / f"{name}.py"), *(["--smoke"] if smoke else [])]


def run_one(name: str, smoke: bool) -> dict:
    """Run one script; its JSON (the last line starting with '{') or the error, and its time."""
    t = time.perf_counter()
    env = {**os.environ, "PYTHON": sys.executable}
    proc = subprocess.run(command(name, smoke), capture_output=True, text=True, cwd=HERE, env=env)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode == 0 and lines:
        out = json.loads(lines[-1])
    else:
        stderr = proc.stderr.strip()
        out = {
            "error": (stderr.splitlines() or ["?"])[-1][:500],
            "returncode": proc.returncode,
            "stderr_tail": stderr[-3000:],
        }
    out["wall_s"] = round(time.perf_counter() - t, 1)
    print(f"{name}: {out['wall_s']} s", file=sys.stderr, flush=True)
    return out


def main() -> int:
    """Run the scripts; a failing one is reported, the others still run; exit 1 if any failed."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="every script's smoke mode (seconds)")
    ap.add_argument("--jobs", type=int, default=1, help="scripts at a time (smoke runs only)")
    ap.add_argument("--only", nargs="+", help="run only these scripts")
    args = ap.parse_args()
    import torch

    scripts = SCRIPTS + (GPU_SCRIPTS if args.smoke or torch.cuda.is_available() else [])
    if args.only:
        scripts = [s for s in scripts + ON_DEMAND if s in args.only]
    if args.smoke:
        scripts.sort(key=lambda s: SMOKE_ORDER.index(s) if s in SMOKE_ORDER else len(SMOKE_ORDER))
    jobs = max(1, args.jobs) if args.smoke else 1
    t0 = time.perf_counter()
    with ThreadPoolExecutor(jobs) as pool:
        results = dict(zip(scripts, pool.map(lambda s: run_one(s, args.smoke), scripts)))
    out = {name: results[name] for name in scripts}
    out["total_wall_s"] = round(time.perf_counter() - t0, 1)
    out["smoke"] = args.smoke
    print(json.dumps(out, default=float))
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
