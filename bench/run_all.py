"""Run every CPU benchmark (each in its own process) and print one JSON object.

``make bench`` runs this. Each script also writes ``bench/results/<name>-<host>.json``. The GPU
script (``gpu_throughput.py``) is added when CUDA is available. About 10-15 minutes on a
2-core CPU machine.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
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


def main() -> int:
    """Run the scripts in turn; a failing one is reported, the others still run."""
    import torch

    scripts = SCRIPTS + (["gpu_throughput"] if torch.cuda.is_available() else [])
    out, t0, failed = {}, time.perf_counter(), []
    for name in scripts:
        t = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, str(HERE / f"{name}.py")], capture_output=True, text=True, cwd=HERE
        )
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if proc.returncode == 0 and lines:
            out[name] = json.loads(lines[-1])
        else:
            failed.append(name)
            out[name] = {"error": (proc.stderr.strip().splitlines() or ["?"])[-1][:500]}
        out[name]["wall_s"] = round(time.perf_counter() - t, 1)
        print(f"{name}: {out[name]['wall_s']} s", file=sys.stderr, flush=True)
    out["total_wall_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out, default=float))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
