"""Decoded-image cache and the one generic torch Dataset.

PNG/TIFF/DICOM decoding dominates a small model's epoch, so every image is decoded once,
resized to the model's input size (with the model's interpolation, antialiased) and kept in a
uint8 ``.npy`` file that later epochs, folds and runs memory-map. The file is keyed by the
paths, their sizes and mtimes, the target size and the preprocessing.

The cache is streamed: images are decoded by a pool (processes for DICOM, whose decoders hold
the GIL; threads otherwise, since OpenCV releases it), a bounded window of them at a time, and
written straight into a memory-mapped temporary ``.npy`` that is renamed on completion, so
peak memory does not grow with the number of images. When every image is grayscale (all
channels equal, e.g. mammograms) one channel is stored and expanded to three on read. A JSON
sidecar written after the rename marks the cache complete; a cache file whose sidecar is
missing or disagrees, or whose size or header is wrong (a truncated copy, a killed build), is
removed and rebuilt. Builds run under a lock, which also makes temporary files of killed
builds safe to sweep.
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import time
from collections import deque
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from breastbench import jsonio
from breastbench.experiment.locks import file_lock
from breastbench.models.preprocess import decode

CACHE_VERSION = "images-v2"
SIDECAR_VERSION = 1
CHUNK = 8  # images per pool task
PROGRESS_AFTER_S = 2.0  # a progress bar appears once a build has run this long


# Every cache file this process wrote (image, feature, vision-token), in order: executors
# report it, so "each cache is built once" can be checked across processes.
BUILT_CACHES: list[str] = []


def cache_key(
    paths: list[str],
    size: tuple[int, int],
    interpolation: str,
    stain_norm: bool,
    resize: str = "squash",
) -> str:
    """Content key: paths with size and mtime, target size and preprocessing."""
    rule = "" if resize == "squash" else f"|{resize}"  # squash keys stay as before
    from breastbench.data.h5members import image_file

    h = hashlib.sha256(f"{CACHE_VERSION}|{size}|{interpolation}|{stain_norm}{rule}".encode())
    stats: dict[str, os.stat_result] = {}  # HDF5 members (PCam) share one file: stat it once
    for p in paths:
        f = image_file(p)
        st = stats.get(f) or stats.setdefault(f, os.stat(f))
        h.update(f"\n{p}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:24]


def _is_gray(img: np.ndarray) -> bool:
    return bool((img[..., 0] == img[..., 1]).all() and (img[..., 0] == img[..., 2]).all())


def _decode_chunk(paths, size, interpolation, stain_norm, resize="squash") -> list[np.ndarray]:
    """Decode a few images; grayscale ones come back as one channel (less to copy or pickle)."""
    out = []
    for p in paths:
        img = decode(p, size, interpolation, stain_norm, resize)
        out.append(img[..., :1] if _is_gray(img) else img)
    return out


def _needs_processes(paths: list[str]) -> bool:
    """DICOM decoders (pydicom, its pixel handlers) hold the GIL, so they need processes."""
    from breastbench.data.dicomio import is_dicom

    return any(is_dicom(p) for p in paths[:16])


def _expected_bytes(path: Path) -> tuple[tuple, int] | None:
    """Shape in the ``.npy`` header and the file size it implies; None for a bad header."""
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            offset = fh.tell()
    except (OSError, ValueError, SyntaxError, EOFError):
        return None
    if fortran or dtype != np.uint8:
        return None
    return shape, offset + int(np.prod(shape))


class ImageStore:
    """Resized uint8 images of a list of paths, decoded once and memory-mapped afterwards.

    ``workers`` is the pool size (0: one per core, at most 8); ``executor`` is ``"auto"``
    (processes when the images are DICOM, threads otherwise), ``"thread"`` or ``"process"``.
    """

    def __init__(
        self,
        paths: list[str],
        size: tuple[int, int],
        cache_dir: str | Path | None,
        interpolation: str = "bicubic",
        stain_norm: bool = False,
        threads: int = 0,
        executor: str = "auto",
        progress: bool = True,
        resize: str = "squash",
    ):
        self.paths = list(paths)
        self.size = tuple(size)
        self.interpolation = interpolation
        self.stain_norm = stain_norm
        self.resize = resize
        self.threads = threads or min(8, os.cpu_count() or 1)
        self.executor = executor
        self.progress = progress
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._array: np.ndarray | None = None  # as stored: (N, H, W, 1) or (N, H, W, 3)
        self.built_now = False  # True when this instance did the decoding (timing reports)
        self.channels_stored: int | None = None

    def __len__(self) -> int:
        return len(self.paths)

    # -- building ---------------------------------------------------------------------------

    def _pool(self):
        use_processes = self.executor == "process" or (
            self.executor == "auto" and _needs_processes(self.paths)
        )
        if use_processes:
            import multiprocessing as mp

            # spawn: the parent may hold torch/OpenMP threads, which fork would copy half-way
            return ProcessPoolExecutor(self.threads, mp_context=mp.get_context("spawn"))
        return ThreadPoolExecutor(self.threads)

    def _decoded(self):
        """Yield ``(i, image)`` in order, keeping only a bounded window of chunks in flight."""
        n = len(self.paths)
        starts = iter(range(0, n, CHUNK))
        window = 4 * self.threads
        args = (self.size, self.interpolation, self.stain_norm, self.resize)
        with self._pool() as pool:
            pending: deque = deque()
            for s in starts:
                pending.append((s, pool.submit(_decode_chunk, self.paths[s : s + CHUNK], *args)))
                if len(pending) >= window:
                    break
            while pending:
                s, fut = pending.popleft()
                imgs = fut.result()
                nxt = next(starts, None)
                if nxt is not None:
                    chunk = self.paths[nxt : nxt + CHUNK]
                    pending.append((nxt, pool.submit(_decode_chunk, chunk, *args)))
                for j, img in enumerate(imgs):
                    yield s + j, img

    def _fill(self, open_out):
        """Decode every image into ``open_out(channels)``; returns the filled array.

        Starts with one channel if the first image is gray and widens to three (copying what
        was written, block by block) at the first colour image.
        """
        out, t0, bar, task = None, time.perf_counter(), None, None
        try:
            for i, img in self._decoded():
                if out is None:
                    out = open_out(img.shape[-1])
                elif img.shape[-1] == 3 and out.shape[-1] == 1:
                    wide = open_out(3)
                    for b in range(0, i, 256):
                        wide[b : min(i, b + 256)] = out[b : min(i, b + 256)]  # broadcasts
                    out = wide
                out[i] = img
                if i % 1024 == 1023 and getattr(out, "_mmap", None) is not None:
                    # written pages stay resident (and in RSS) until dropped: write them back
                    # and release them so the build's footprint stays flat in N
                    out.flush()
                    out._mmap.madvise(mmap.MADV_DONTNEED)
                if bar is None and self.progress and time.perf_counter() - t0 > PROGRESS_AFTER_S:
                    bar, task = self._start_bar(i + 1)
                elif bar is not None:
                    bar.update(task, completed=i + 1)
        finally:
            if bar is not None:
                bar.stop()
        return out

    def _start_bar(self, done: int):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        bar = Progress(
            "decoding images",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        bar.start()
        return bar, bar.add_task("decode", total=len(self.paths), completed=done)

    def _build_in_ram(self) -> np.ndarray:
        return self._fill(lambda c: np.empty((len(self.paths), *self.size, c), dtype=np.uint8))

    def _build_file(self, target: Path) -> None:
        """Stream into ``<key>.tmp<pid>-<c>.npy`` memory maps, then rename and write the sidecar."""
        tmps: list[Path] = []
        shape = (len(self.paths), *self.size)

        def open_out(channels: int):
            tmp = target.with_name(f"{target.stem}.tmp{os.getpid()}-{channels}.npy")
            tmps.append(tmp)
            return np.lib.format.open_memmap(tmp, "w+", np.uint8, (*shape, channels))

        try:
            out = self._fill(open_out)
            out.flush()
            channels = out.shape[-1]
            del out
            final = tmps[-1]
            os.replace(final, target)
            meta = {
                "version": SIDECAR_VERSION,
                "n": len(self.paths),
                "size": list(self.size),
                "channels": channels,
                "nbytes": target.stat().st_size,
                "first": self.paths[:3],
            }
            side = target.with_suffix(".json")
            jsonio.atomic_write_text(side, jsonio.dumps(meta))
            BUILT_CACHES.append(str(target))
        finally:
            for tmp in tmps:
                tmp.unlink(missing_ok=True)

    def _valid(self, target: Path) -> bool:
        """A complete cache: sidecar present and agreeing, header and file size consistent."""
        side = target.with_suffix(".json")
        if not (target.is_file() and side.is_file()):
            return False
        try:
            meta = json.loads(side.read_text())
        except (OSError, json.JSONDecodeError):
            return False
        head = _expected_bytes(target)
        if head is None:
            return False
        shape, nbytes = head
        n, (h, w) = len(self.paths), self.size
        return (
            meta.get("n") == n
            and list(meta.get("size", [])) == [h, w]
            and meta.get("channels", shape[-1]) == shape[-1]
            and len(shape) == 4
            and shape[:3] == (n, h, w)
            and shape[3] in (1, 3)
            and target.stat().st_size == nbytes
        )

    def _stored(self) -> np.ndarray:
        """The array as stored, building or rebuilding the cache file when needed."""
        if self._array is not None:
            return self._array
        if self.cache_dir is None:
            self._array = self._build_in_ram()
            self.built_now = True
        else:
            key = cache_key(self.paths, self.size, self.interpolation, self.stain_norm, self.resize)
            target = self.cache_dir / "images" / f"{key}.npy"
            target.parent.mkdir(parents=True, exist_ok=True)
            with file_lock(target.with_suffix(".lock")):
                if not self._valid(target):
                    # under the lock, any temp file of this key belongs to a build that died
                    for stale in target.parent.glob(f"{key}.tmp*"):
                        stale.unlink(missing_ok=True)
                    target.with_suffix(".json").unlink(missing_ok=True)
                    target.unlink(missing_ok=True)
                    self._build_file(target)
                    self.built_now = True
            self._array = np.load(target, mmap_mode="r")
        self.channels_stored = int(self._array.shape[-1])
        return self._array

    # -- reading ----------------------------------------------------------------------------

    def array(self) -> np.ndarray:
        """All images as (N, H, W, 3) uint8, building the cache on first use.

        A grayscale cache is returned as a read-only broadcast view (no copy); a colour one is
        the memory map itself.
        """
        arr = self._stored()
        if arr.shape[-1] == 1:
            return np.broadcast_to(arr, (*arr.shape[:3], 3))
        return arr

    def get(self, i: int) -> np.ndarray:
        """Image ``i`` as (H, W, 3) uint8."""
        img = self._stored()[i]
        if img.shape[-1] == 1:
            return np.repeat(img, 3, axis=-1)
        return np.asarray(img)


class ImageDataset(torch.utils.data.Dataset):
    """Items ``(image_tensor, target, index)`` over a subset of an :class:`ImageStore`."""

    def __init__(self, store: ImageStore, indices, targets, transform):
        self.store = store
        self.indices = np.asarray(indices, dtype=np.int64)
        self.targets = np.asarray(targets, dtype=np.int64)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, j: int):
        i = int(self.indices[j])
        return self.transform(self.store.get(i)), int(self.targets[j]), i
