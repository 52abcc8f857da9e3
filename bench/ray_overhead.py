"""Ray vs the local executor on a tiny grid: per-task overhead and the 2-worker speed-up.

Runs the same grid (demo data, two tiny models, two modes, three folds) three times in fresh
output folders: the local executor, Ray with one worker (num_cpus=1) and Ray with two workers
(num_cpus=2), all measured in this one process, and reports the ratios side by side:

- overhead per task = (Ray 1 worker - local) / runs;
- speed-up of two workers over one = Ray 1 worker / Ray 2 workers.

On a 2-core machine the two workers also compete with each other's intra-op threads, so the
speed-up is bounded well below 2.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import tempfile
import time
from pathlib import Path

import common
import yaml


def _config(root: Path, out: Path, smoke: bool = False) -> Path:
    from breastbench.data import synthesize

    bh = synthesize("synthetic-breakhis", root / "bh", seed=0)
    cfg = {
        "name": "ray_bench",
        "output_dir": str(out),
        "synthetic": True,
        "datasets": [
            {
                "name": "breakhis",
                "source": "synthetic-breakhis",
                "root": str(bh),
                "task": "binary",
                "magnifications": [200],
            }
        ],
        "models": [
            {"name": "cnn/test-resnet", "label": "cnn", "modes": ["finetune", "linear_probe"]},
            {"name": "vlm/test-smolvlm", "label": "smol", "modes": ["linear_probe", "lora"]},
        ],
        "cv": {"k": 3, "seed": 0},
        # 20 epochs: with 3 the whole local grid took 6 s on a quiet machine, less than a Ray
        # worker's start-up, and the 2-worker figure measured start-up, not the speed-up
        "training": {"epochs": 20, "batch_size": 16, "lr": 3e-3},
    }
    if smoke:  # one tiny model and mode, 2 folds, 1 epoch
        cfg["models"] = [{"name": "cnn/test-resnet", "label": "cnn", "modes": ["finetune"]}]
        cfg["cv"]["k"], cfg["training"]["epochs"] = 2, 1
    path = root / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _timed(argv: list[str]) -> float:
    from breastbench.cli import main

    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(argv)
    if code != 0:
        raise SystemExit(f"breastbench {' '.join(argv)} exited {code}")
    return time.perf_counter() - t


def _max_prob_diff(a: Path, b: Path) -> float:
    """Largest difference of any predicted probability between two output folders."""
    import numpy as np
    import pandas as pd

    diff, runs = 0.0, sorted(p.name for p in (a / "runs").iterdir() if p.is_dir())
    for run in runs:
        pa, pb = (pd.read_csv(d / "runs" / run / "predictions.csv") for d in (a, b))
        cols = [c for c in pa.columns if c.startswith("prob_")]
        diff = max(diff, float(np.abs(pa[cols].to_numpy() - pb[cols].to_numpy()).max()))
    return diff


def main() -> int:
    """Measure and print one JSON object (also saved under bench/results/)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common.add_smoke(ap)
    args = ap.parse_args()
    import ray
    import torch

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cfg = _config(root, root / "unused", args.smoke)
        base = ["run", str(cfg), "--no-report", "--device", "cpu"]
        local = _timed([*base, "--out", str(root / "local")])
        runs = len([p for p in (root / "local" / "runs").iterdir() if p.is_dir()])
        results = {"local_s": local, "runs": runs, "torch_threads": threads}
        for workers in (1,) if args.smoke else (1, 2):
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
            try:
                out = root / f"ray{workers}"
                results[f"ray_{workers}_worker_s"] = _timed(
                    [*base, "--out", str(out), "--executor", "ray"]
                )
            finally:
                ray.shutdown()
            # Ray runs must give the local executor's numbers, bit for bit
            results[f"ray_{workers}_max_prob_diff"] = _max_prob_diff(root / "local", out)
    r1 = results["ray_1_worker_s"]
    results["ray_overhead_per_task_s"] = (r1 - local) / results["runs"]
    results["ray_1_over_local"] = r1 / local
    if "ray_2_worker_s" in results:
        results["speedup_2_over_1_workers"] = r1 / results["ray_2_worker_s"]
    results = {k: round(v, 3) if isinstance(v, float) else v for k, v in results.items()}
    common.write_result("ray_overhead", results, smoke=args.smoke)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
