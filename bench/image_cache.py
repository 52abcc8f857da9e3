"""Decoded-image cache at mammography scale: peak RSS and images/s against the decode rate.

Writes ``--n`` synthetic 512x512 grayscale PNGs into a temp folder, measures the single-core
rate of ``decode`` on a sample, then builds the cache with one worker per core (in a
child process, so its peak RSS is its own) and reports peak RSS (target < 2 GiB) and images/s
against 0.8 x single-core rate x cores. ``make bench`` uses N = 3,000 (peak RSS is flat in N,
so the figure does not need the size); the mammography-scale run is
``python bench/image_cache.py --full`` (N = 50,000, about 13 GB of temp disk, ~9 minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common
import numpy as np

CHILD = """
import resource, sys, time, json
sys.path.insert(0, {src!r})
from breastbench.experiment.images import ImageStore
paths = open({lst!r}).read().split()
t = time.perf_counter()
ImageStore(paths, ({side}, {side}), {cache!r}, threads={cores}).array()
dt = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"build_s": dt, "peak_rss_kb": rss}}))
"""


def main() -> int:
    """Write the images, time single-core decoding and the parallel cache build, print JSON."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=3_000, help="images (default 3,000)")
    ap.add_argument("--full", action="store_true", help="mammography scale: --n 50000")
    ap.add_argument("--side", type=int, default=512, help="cache size (square)")
    ap.add_argument("--sample", type=int, default=200)
    common.add_smoke(ap)
    args = ap.parse_args()
    if args.full:
        args.n = 50_000
    if args.smoke:
        args.n, args.side, args.sample = 40, 64, 10
    import cv2

    from breastbench.models.preprocess import decode

    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        rng = np.random.default_rng(0)
        src_side = 64 if args.smoke else 512
        base = rng.integers(0, 256, (src_side, src_side), dtype=np.uint8)
        paths = []
        for i in range(args.n):
            p = os.path.join(tmp, f"m{i}.png")
            cv2.imwrite(p, np.roll(base, i, axis=1), [cv2.IMWRITE_PNG_COMPRESSION, 1])
            paths.append(p)
        t = time.perf_counter()
        for p in paths[: args.sample]:
            decode(p, (args.side, args.side), "bicubic")
        single = args.sample / (time.perf_counter() - t)
        lst = Path(tmp) / "paths.txt"
        lst.write_text("\n".join(paths))
        src = str(Path(__file__).resolve().parents[1] / "src")
        code = CHILD.format(
            src=src, lst=str(lst), side=args.side, cache=str(Path(tmp) / "c"), cores=cores
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if out.returncode:
            print(out.stderr, file=sys.stderr)
            return 1
        res = json.loads(out.stdout.strip().splitlines()[-1])
        # the cache holds what single-image decoding gives (first and last image)
        from breastbench.experiment.images import ImageStore

        store = ImageStore(paths, (args.side, args.side), str(Path(tmp) / "c"))
        side = (args.side, args.side)
        diff = max(
            int(np.abs(store.get(i).astype(int) - decode(paths[i], side).astype(int)).max())
            for i in (0, args.n - 1)
        )
    rate = args.n / res["build_s"]
    result = {
        "n": args.n,
        "cores": cores,
        "single_core_img_s": round(single, 1),
        "cache_img_s": round(rate, 1),
        "target_img_s": round(0.8 * single * cores, 1),
        "ratio_vs_target": round(rate / (0.8 * single * cores), 3),
        "peak_rss_gib": round(res["peak_rss_kb"] / 2**20, 3),
        "rss_target_gib": 2.0,
        "parent_peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 3),
        "max_pixel_diff_cache_vs_decode": diff,
    }
    common.write_result("image_cache", result, smoke=args.smoke)
    return 0


if __name__ == "__main__":
    sys.exit(main())
