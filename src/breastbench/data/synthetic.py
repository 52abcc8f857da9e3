"""``synthesize(kind, out_dir, seed, size)``: deterministic synthetic datasets in real layouts.

The demo and the tests need data with a learnable signal and the exact on-disk layout of the
real datasets, so the real loaders are what reads them. Output is written to a temporary
sibling folder and renamed when complete (no half-written tree); re-running with the same
kind, seed and size into the same folder returns it untouched.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from breastbench import jsonio
from breastbench.errors import UserError

KINDS = ("synthetic-breakhis", "synthetic-bach", "synthetic-density")
KINDS += ("synthetic-bracs", "synthetic-pcam", "synthetic-cmmd", "synthetic-embed")
MARKER = "synthetic.json"


@dataclass(frozen=True)
class SynthSize:
    """How much to draw: counts per unit and tile sizes (H, W)."""

    patients_per_subtype: int  # 8 subtypes: 2 -> 8 patients per binary class
    images_per_mag: int  # per patient and magnification
    tile_hw: tuple[int, int]  # BreakHis tiles (real: 460x700)
    bach_per_class: int
    bach_hw: tuple[int, int]  # BACH photos (real: 1536x2048)
    studies_per_class: int  # density: 4 images per study
    mammo_hw: tuple[int, int]


SIZES = {
    # small: the demo synthesises and trains in seconds (384 BreakHis tiles of 64x96)
    "small": SynthSize(2, 6, (64, 96), 10, (72, 96), 6, (96, 72)),
    "medium": SynthSize(3, 12, (64, 96), 25, (72, 96), 15, (128, 96)),
    # full: the real BreakHis tile size, for speed and memory checks
    "full": SynthSize(4, 20, (460, 700), 50, (768, 1024), 25, (512, 384)),
}


def resolve_size(size) -> SynthSize:
    """``"small"|"medium"|"full"`` or an integer N (N images per unit at small tile sizes)."""
    if isinstance(size, SynthSize):
        return size
    if str(size) in SIZES:
        return SIZES[str(size)]
    try:
        n = int(size)
    except (TypeError, ValueError):
        n = 0
    if n < 1:
        raise UserError(f"size {size!r} is not valid; use small, medium, full or a positive int")
    small = SIZES["small"]
    return SynthSize(2, n, small.tile_hw, max(n, 2), small.bach_hw, max(n, 2), small.mammo_hw)


def _write(kind: str, root: Path, rng, size: SynthSize) -> int:
    from breastbench.data import synth_density, synth_histology

    if kind == "synthetic-breakhis":
        return synth_histology.write_breakhis(
            root, rng, size.patients_per_subtype, size.images_per_mag, size.tile_hw
        )
    if kind == "synthetic-bach":
        return synth_histology.write_bach(root, rng, size.bach_per_class, size.bach_hw)
    if kind in ("synthetic-bracs", "synthetic-pcam"):
        return _write_multicenter(kind, root, rng, size)
    if kind == "synthetic-cmmd":
        from breastbench.data.synth_mammo import write_cmmd

        return write_cmmd(root, rng, 2 * size.studies_per_class, size.mammo_hw)
    if kind == "synthetic-embed":
        from breastbench.data.synth_mammo import write_embed

        return write_embed(root, rng, size.studies_per_class, size.mammo_hw)
    return synth_density.write_density(root, rng, size.studies_per_class, size.mammo_hw)


def _write_multicenter(kind: str, root: Path, rng, size: SynthSize) -> int:
    from breastbench.data import synth_multicenter

    if kind == "synthetic-bracs":
        rois = max(1, size.images_per_mag // 3)
        return synth_multicenter.write_bracs(
            root, rng, size.patients_per_subtype, rois, size.bach_hw
        )
    per = size.images_per_mag
    counts = {"train": 32 * per, "valid": 8 * per, "test": 8 * per}
    return synth_multicenter.write_pcam(root, rng, counts, {"train": 8, "valid": 4, "test": 4})


def _same_recipe(found: dict, wanted: dict) -> bool:
    # JSON turns tuples into lists: compare both through JSON
    return {k: found.get(k) for k in wanted} == json.loads(json.dumps(wanted))


def synthesize(kind: str, out_dir, seed: int = 0, size="small") -> Path:
    """Write synthetic dataset ``kind`` to ``out_dir`` (deterministic from ``seed``).

    Returns ``out_dir``, which ``load_manifest(kind, out_dir)`` reads.
    """
    if kind not in KINDS:
        raise UserError(f"unknown synthetic kind {kind!r}; choose one of {', '.join(KINDS)}")
    spec = resolve_size(size)
    out = Path(out_dir).expanduser().absolute()
    record = {"kind": kind, "seed": int(seed), "size": asdict(spec)}
    marker = out / MARKER
    if marker.is_file() and _same_recipe(json.loads(marker.read_text()), record):
        return out  # already there, same recipe: synthesis is deterministic
    if out.exists() and any(out.iterdir()):
        raise UserError(f"{out} exists and is not empty; choose a new folder or delete it")
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        record["n_images"] = _write(kind, tmp, np.random.default_rng(seed), spec)
        jsonio.atomic_write_text(tmp / MARKER, jsonio.dumps(record))
        if out.exists():
            out.rmdir()  # empty (checked above): os.replace needs the name free
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
