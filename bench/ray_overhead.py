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

import json
import os
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent


def _config(root: Path, out: Path) -> Path:
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
        "training": {"epochs": 3, "batch_size": 16, "lr": 3e-3},
    }
    path = root / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _timed(argv: list[str]) -> float:
    from breastbench.cli import main

    t = time.perf_counter()
    assert main(argv) == 0
    return time.perf_counter() - t


def main() -> int:
    """Measure and print one JSON object (also saved under bench/results/)."""
    import ray
    import torch

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cfg = _config(root, root / "unused")
        base = ["run", str(cfg), "--no-report"]
        local = _timed([*base, "--out", str(root / "local")])
        results = {"local_s": local, "runs": 12, "torch_threads": threads}
        for workers in (1, 2):
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
            try:
                out = root / f"ray{workers}"
                results[f"ray_{workers}_worker_s"] = _timed(
                    [*base, "--out", str(out), "--executor", "ray"]
                )
            finally:
                ray.shutdown()
    r1, r2 = results["ray_1_worker_s"], results["ray_2_worker_s"]
    results["ray_overhead_per_task_s"] = (r1 - local) / results["runs"]
    results["ray_1_over_local"] = r1 / local
    results["speedup_2_over_1_workers"] = r1 / r2
    text = json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in results.items()})
    (HERE / "results" / f"ray_overhead-{os.uname().nodename[:12]}.json").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
