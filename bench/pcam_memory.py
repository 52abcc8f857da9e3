"""PCam at full size in bounded memory: 327,680 HDF5 patches -> manifest, folds, image cache.

Writes a synthetic PatchCamelyon in the real layout and shapes (``camelyonpatch_level_2_split_
{train,valid,test}_{x,y}.h5`` with ``x`` (N, 96, 96, 3) uint8, the published 8:1:1 split, and
``*_meta.csv`` with a ``wsi`` column), in chunks, into a temporary folder (about 9 GB
uncompressed: the free disk is checked first and gzip is used when it is tight). Then a fresh
child process does what ``breastbench run`` does before training: the ``pcam`` source's
manifest (lazy ``<file.h5>#<index>`` paths), WSI-grouped folds with their audit, the manifest
file, and the decoded-image cache of every patch (``ImageStore``, 96 px by default). The child's
peak RSS (``VmHWM`` in ``/proc/self/status``: its own high-water mark; ``ru_maxrss`` would
carry the parent's over ``exec``) is the figure; the target is < 2 GiB.

    python bench/pcam_memory.py            # 327,680 patches (minutes; ~18 GB of temp disk)
    python bench/pcam_memory.py --smoke    # 2,048 patches, for the test
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common

FULL_N = 327_680
PATCH_BYTES = 96 * 96 * 3
TARGET_GIB = 2.0

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[4])
root, cache, side = sys.argv[1], sys.argv[2], int(sys.argv[3])
def rss():  # VmHWM: this process's own peak (ru_maxrss would carry the parent's over exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
out = {}
t = time.perf_counter()
from breastbench.data import assign_folds, audit_folds, load_manifest, write_manifest
from breastbench.experiment.images import ImageStore
out["rss_after_imports_gib"] = rss()
df = load_manifest("pcam", root)
out["manifest_s"], out["rss_after_manifest_gib"] = time.perf_counter() - t, rss()
t = time.perf_counter()
df = assign_folds(df, k=5, seed=0)
audit = audit_folds(df)
write_manifest(df, f"{cache}/manifest.parquet")
out["folds_s"], out["rss_after_folds_gib"] = time.perf_counter() - t, rss()
out.update(n_images=len(df), n_groups=int(df["patient_id"].nunique()), audit_ok=audit["ok"],
           leaks=len(audit["leaks"]))
t = time.perf_counter()
store = ImageStore(list(df["path"]), (side, side), cache, progress=False)
arr = store.array()
out["cache_s"], out["cache_shape"] = time.perf_counter() - t, list(arr.shape)
out["cache_bytes"] = int(arr.nbytes)
out["peak_rss_gib"] = rss()
print(json.dumps(out))
"""


def write_dataset(root: Path, n: int, compression: str | None) -> dict:
    """Write the synthetic PCam (8:1:1 split, WSIs per split as in Camelyon16's 270+130)."""
    import numpy as np

    from breastbench.data.synth_multicenter import write_pcam

    counts = {"train": n * 8 // 10, "valid": n // 10, "test": n - n * 8 // 10 - n // 10}
    slides = {"train": 216, "valid": 54, "test": 130} if n >= 100_000 else dict.fromkeys(counts, 8)
    t = time.perf_counter()
    write_pcam(root, np.random.default_rng(0), counts, slides, compression=compression)
    return {
        "counts": counts,
        "write_s": time.perf_counter() - t,
        "h5_bytes": sum(f.stat().st_size for f in root.glob("*.h5")),
        "writer_peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
    }


def main(argv=None) -> dict:
    """Parse options, write the data set, measure the child, print and (optionally) save."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=FULL_N, help="patches (default 327,680)")
    parser.add_argument("--smoke", action="store_true", help="2,048 patches, nothing saved")
    parser.add_argument("--dir", help="temp folder to use (default: the system temp dir)")
    parser.add_argument("--side", type=int, default=96, help="image cache side (default 96)")
    parser.add_argument("--keep", action="store_true", help="keep the data and cache")
    args = parser.parse_args(argv)
    n = 2048 if args.smoke else args.n
    work = Path(tempfile.mkdtemp(prefix="pcam-bench-", dir=args.dir))
    need = n * PATCH_BYTES + n * args.side * args.side * 3
    free = shutil.disk_usage(work).free
    compression = None if free > 2 * need else "gzip"
    if compression and free < need:
        shutil.rmtree(work)
        raise SystemExit(f"not enough disk in {work.parent}: {free / 2**30:.1f} GiB free")
    try:
        data, cache = work / "pcam", work / "cache"
        data.mkdir()
        cache.mkdir()
        result = {"n": n, "side": args.side, "compression": compression or "none"}
        result["free_disk_gib"] = free / 2**30
        result.update(write_dataset(data, n, compression))
        src = str(Path(__file__).resolve().parents[1] / "src")
        cmd = [sys.executable, "-c", CHILD, str(data), str(cache), str(args.side), src]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"child failed: {proc.stderr.strip()[-2000:]}")
        result.update(json.loads(proc.stdout.strip().splitlines()[-1]))
        result["under_target"] = result["peak_rss_gib"] < TARGET_GIB
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if args.smoke:
        print(json.dumps(result))
        return result
    return common.write_result("pcam_memory", result)


if __name__ == "__main__":
    main()
