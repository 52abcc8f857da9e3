"""Linear-probe protocol: naive (backbone forward every epoch) vs the feature cache.

The study's protocol (5 patient-level folds x 20 epochs, frozen backbone, batch 64, AdamW,
cosine) is run through the public command, ``breastbench run`` (``breastbench.cli.main``), one
fold per call (``--only``), twice per fold: once with ``--no-cache`` (an ``ImageSource`` feeds
images through the frozen backbone every epoch) and once with the feature cache (features
computed once per magnification, the head trains on them). The two variants alternate fold by
fold (and which goes first alternates too); the reported ratio is total naive time / total
cached time, each run's time being its own ``timings.total_s`` in ``run.json`` (model build,
data, fit, predict; the cached total includes building the cache). Both variants read the same
decoded-image cache, built before timing by a warm-up run, so only the feature cache is
measured.

Data: synthetic BreakHis, real-size 700x460 PNG tiles, one magnification.
Target (issue 6): >= 30x faster, every metric equal within 1e-4.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import tempfile
import time
from pathlib import Path

import common
import numpy as np
import pandas as pd
import yaml

MODELS = {
    "cnn": {"name": "cnn/resnet34", "input_size": 112},
    "clip": {"name": "clip/test-biomedclip"},
}
SMOKE_MODELS = {
    "cnn": {"name": "cnn/test-resnet"},
    "clip": {"name": "clip/test-biomedclip"},
}


def _config(root: Path, out: Path, model: dict, epochs: int) -> Path:
    cfg = {
        "name": "bench-linear-probe",
        "output_dir": str(out),
        "seed": 0,
        "synthetic": True,
        "cache_dir": str(out / "cache"),
        "datasets": [
            {
                "name": "breakhis",
                "source": "synthetic-breakhis",
                "root": str(root),
                "task": "binary",
                "magnifications": [200],
            }
        ],
        "models": [{**model, "modes": ["linear_probe"], "weights": "random"}],
        "augmentation": ["off"],
        "cv": {"k": 5, "seed": 0},
        "training": {"epochs": epochs, "batch_size": 64, "lr": 1e-3},
    }
    path = out / "experiment.yaml"
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _run(cfg: Path, out: Path, only: str, no_cache: bool) -> None:
    from breastbench.cli import main as cli

    argv = ["run", str(cfg), "--out", str(out), "--only", only, "--no-report", "--device", "cpu"]
    with contextlib.redirect_stdout(io.StringIO()):  # the command's tables: not this JSON
        code = cli(argv + (["--no-cache"] if no_cache else []))
    if code != 0:
        raise SystemExit(f"breastbench {' '.join(argv)} exited {code}")


def compare(root: Path, work: Path, model: dict, epochs: int) -> dict:
    """Run every fold naive and cached, alternating; times, ratio and largest differences."""
    out = work / model["name"].replace("/", "-")
    cfg = _config(root, out, model, epochs)
    folds = range(5)
    # warm-up: builds the decoded-image cache both variants read (no feature cache)
    _run(cfg, out / "warm-up", "*fold0*", no_cache=True)
    if (out / "cache" / "features").exists():
        shutil.rmtree(out / "cache" / "features")
    times = {"naive": [], "cached": []}
    wall = {"naive": 0.0, "cached": 0.0}
    run_dirs = {"naive": [], "cached": []}
    for i in folds:
        order = ["naive", "cached"] if i % 2 == 0 else ["cached", "naive"]
        for variant in order:
            t0 = time.perf_counter()
            _run(cfg, out / variant, f"*fold{i}*", no_cache=variant == "naive")
            wall[variant] += time.perf_counter() - t0
            (run,) = [d for d in (out / variant / "runs").glob(f"*fold{i}*") if d.is_dir()]
            info = json.loads((run / "run.json").read_text())
            times[variant].append(info["timings"]["total_s"])
            run_dirs[variant].append(run)
    metric_diff, prob_diff = 0.0, 0.0
    for a, b in zip(run_dirs["naive"], run_dirs["cached"], strict=True):
        ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
        for k, v in ma.items():
            if isinstance(v, int | float) and not (np.isnan(v) and np.isnan(mb[k])):
                metric_diff = max(metric_diff, abs(float(v) - float(mb[k])))
        pa, pb = (pd.read_csv(d / "predictions.csv")["prob_malignant"].to_numpy() for d in (a, b))
        prob_diff = max(prob_diff, float(np.abs(pa - pb).max()))
        kinds = [json.loads((d / "run.json").read_text())["input_path"] for d in (a, b)]
        assert kinds == ["ImageSource", "TensorSource"], kinds
    n_images = sum(json.loads((d / "run.json").read_text())["n_test"] for d in run_dirs["naive"])
    naive, cached = sum(times["naive"]), sum(times["cached"])
    return {
        "model": model,
        "images": n_images,
        "naive_s": naive,
        "cached_s": cached,
        "speedup": naive / cached,
        "naive_fold_s": times["naive"],
        "cached_fold_s": times["cached"],
        "cli_wall_s": wall,
        "max_metric_diff": metric_diff,
        "max_prob_diff": prob_diff,
        "target_met": naive / cached >= 30 and metric_diff <= 1e-4,
    }


def main() -> None:
    """Both models; print and write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-patient", type=int, default=8, help="images per patient (16 patients)")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--data", default=str(Path(tempfile.gettempdir()) / "breastbench-bench-data"))
    common.add_smoke(ap)
    args = ap.parse_args()
    common.set_threads()
    models, tile = MODELS, (460, 700)
    if args.smoke:  # tiny models and tiles, 1 image per patient, 2 epochs
        models, tile, args.per_patient, args.epochs = SMOKE_MODELS, (46, 70), 1, 2
    root = Path(args.data) / f"breakhis-{tile[1]}x{tile[0]}-{args.per_patient}"
    common.synth_breakhis(root, args.per_patient, tile_hw=tile)
    work = Path(tempfile.mkdtemp(prefix="bb-lp-"))
    try:
        results = {k: compare(root, work, m, args.epochs) for k, m in models.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    common.write_result(
        "linear_probe",
        {
            "setup": (
                f"synthetic BreakHis 200X, {args.per_patient * 16} PNGs of {tile[1]}x{tile[0]}, "
                f"5 folds x {args.epochs} epochs, batch 64, `breastbench run --only` per fold, "
                "naive = --no-cache; run time = run.json timings.total_s; decoded-image cache "
                "shared and prebuilt"
            ),
            "target": ">= 30x, metrics within 1e-4",
            **results,
            "target_met": all(r["target_met"] for r in results.values()),
        },
        smoke=args.smoke,
    )


if __name__ == "__main__":
    main()
