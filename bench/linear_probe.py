"""Linear-probe protocol: naive (backbone forward every epoch) vs the feature cache.

The study's protocol (5 patient-level folds x 20 epochs, frozen backbone, batch 64, AdamW,
cosine) is run through the runner's own ``execute`` twice per fold, once with
``use_cache=False`` (what ``breastbench run --no-cache`` does: an ``ImageSource`` feeds images
through the frozen backbone every epoch) and once with the feature cache (features computed
once per magnification, the head trains on them). The two variants alternate fold by fold
(and which goes first alternates too); the reported ratio is total naive time / total cached
time, the cached total including building the cache. Both variants read the same
decoded-image cache, built before timing, so only the feature cache is measured.

Data: synthetic BreakHis, real-size 700x460 PNG tiles, one magnification.
Target (issue 6): >= 30x faster, every metric equal within 1e-4.
"""

from __future__ import annotations

import argparse
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


def compare(root: Path, work: Path, model: dict, epochs: int) -> dict:
    """Run every fold naive and cached, alternating; times, ratio and largest differences."""
    import torch
    from rich.console import Console

    from breastbench.experiment.config import load_config
    from breastbench.experiment.execute import RunContext, execute
    from breastbench.experiment.grid import expand
    from breastbench.experiment.runner import prepare_manifests

    out = work / model["name"].replace("/", "-")
    cfg = load_config(_config(root, out, model, epochs))
    manifests = prepare_manifests(cfg, out, Console(quiet=True))
    cache = out / "cache"
    dev = torch.device("cpu")
    ctxs = {
        "naive": RunContext(cfg, out / "naive", dev, manifests, cache, use_cache=False),
        "cached": RunContext(cfg, out / "cached", dev, manifests, cache, use_cache=True),
    }
    specs = expand(cfg)
    # decoded-image cache built once, outside the timing (both variants read it)
    from breastbench.experiment.execute import build_model, make_source, subset

    df = subset(manifests["breakhis"], 200)
    warm = build_model(specs[0], cfg.models[0], ["benign", "malignant"], dev)
    ctxs["naive"].use_cache = False
    make_source(ctxs["naive"], specs[0], cfg.models[0], warm, df, df["target"].to_numpy())
    ctxs["cached"].stores = ctxs["naive"].stores  # same in-memory decoded images
    if (cache / "features").exists():
        shutil.rmtree(cache / "features")
    times = {"naive": [], "cached": []}
    for i, spec in enumerate(specs):
        order = ["naive", "cached"] if i % 2 == 0 else ["cached", "naive"]
        for variant in order:
            t0 = time.perf_counter()
            execute(spec, ctxs[variant])
            times[variant].append(time.perf_counter() - t0)
    metric_diff, prob_diff = 0.0, 0.0
    for spec in specs:
        a = out / "naive" / "runs" / spec.run_id
        b = out / "cached" / "runs" / spec.run_id
        ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
        for k, v in ma.items():
            if isinstance(v, int | float) and not (np.isnan(v) and np.isnan(mb[k])):
                metric_diff = max(metric_diff, abs(float(v) - float(mb[k])))
        pa, pb = (pd.read_csv(d / "predictions.csv")["prob_malignant"].to_numpy() for d in (a, b))
        prob_diff = max(prob_diff, float(np.abs(pa - pb).max()))
        kinds = [json.loads((d / "run.json").read_text())["input_path"] for d in (a, b)]
        assert kinds == ["ImageSource", "TensorSource"], kinds
    naive, cached = sum(times["naive"]), sum(times["cached"])
    return {
        "model": model,
        "images": len(df),
        "naive_s": naive,
        "cached_s": cached,
        "speedup": naive / cached,
        "naive_fold_s": times["naive"],
        "cached_fold_s": times["cached"],
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
    args = ap.parse_args()
    common.set_threads()
    root = Path(args.data) / f"breakhis-full-{args.per_patient}"
    common.synth_breakhis(root, args.per_patient)
    work = Path(tempfile.mkdtemp(prefix="bb-lp-"))
    try:
        results = {k: compare(root, work, m, args.epochs) for k, m in MODELS.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    common.write_result(
        "linear_probe",
        {
            "setup": (
                f"synthetic BreakHis 200X, {args.per_patient * 16} PNGs of 700x460, 5 folds x "
                f"{args.epochs} epochs, batch 64, runner execute() per fold, naive = "
                "use_cache=False (--no-cache); decoded-image cache shared and prebuilt"
            ),
            "target": ">= 30x, metrics within 1e-4",
            **results,
            "target_met": all(r["target_met"] for r in results.values()),
        },
    )


if __name__ == "__main__":
    main()
