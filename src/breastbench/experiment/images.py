"""Decoded-image cache and the one generic torch Dataset.

PNG/TIFF/DICOM decoding dominates a small model's epoch, so every image is decoded once,
resized to the model's input size (with the model's interpolation, antialiased) and kept in a
uint8 ``.npy`` file that later epochs, folds and runs memory-map. The file is keyed by the
paths, their sizes and mtimes, the target size and the preprocessing, written to a temporary
name and renamed, under a lock, so two runs starting together never see a half-written cache.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from breastbench import jsonio
from breastbench.experiment.locks import file_lock

CACHE_VERSION = "images-v2"
# Every cache file this process wrote (image, feature, vision-token), in order: executors
# report it, so "each cache is built once" can be checked across processes.
BUILT_CACHES: list[str] = []


def decode_resized(
    path: str,
    size: tuple[int, int],
    interpolation: str = "bicubic",
    stain_norm: bool = False,
    resize: str = "squash",
) -> np.ndarray:
    """Decode one image to uint8 RGB and resize to ``size`` = (H, W) by the resize rule."""
    from breastbench.models.preprocess import decode

    return decode(path, size, interpolation, stain_norm, resize)


def cache_key(
    paths: list[str],
    size: tuple[int, int],
    interpolation: str,
    stain_norm: bool,
    resize: str = "squash",
) -> str:
    """Content key: paths with size and mtime, target size and preprocessing."""
    rule = "" if resize == "squash" else f"|{resize}"  # squash keys stay as before
    h = hashlib.sha256(f"{CACHE_VERSION}|{size}|{interpolation}|{stain_norm}{rule}".encode())
    for p in paths:
        st = os.stat(p)
        h.update(f"\n{p}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:24]


class ImageStore:
    """Resized uint8 images of a list of paths, decoded once and memory-mapped afterwards."""

    def __init__(
        self,
        paths: list[str],
        size: tuple[int, int],
        cache_dir: str | Path | None,
        interpolation: str = "bicubic",
        stain_norm: bool = False,
        threads: int = 0,
        resize: str = "squash",
    ):
        self.paths = list(paths)
        self.size = tuple(size)
        self.interpolation = interpolation
        self.stain_norm = stain_norm
        self.resize = resize
        self.threads = threads or min(8, os.cpu_count() or 1)
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._array: np.ndarray | None = None
        self.built_now = False  # True when this instance did the decoding (timing reports)

    def __len__(self) -> int:
        return len(self.paths)

    def _decode_all(self) -> np.ndarray:
        out = np.empty((len(self.paths), *self.size, 3), dtype=np.uint8)

        def work(i: int) -> None:
            out[i] = decode_resized(
                self.paths[i], self.size, self.interpolation, self.stain_norm, self.resize
            )

        # PIL and the decoders release the GIL, so threads overlap decoding on every core.
        with ThreadPoolExecutor(self.threads) as pool:
            list(pool.map(work, range(len(self.paths))))
        return out

    def array(self) -> np.ndarray:
        """All images as (N, H, W, 3) uint8, building the cache on first use."""
        if self._array is not None:
            return self._array
        if self.cache_dir is None:
            self._array = self._decode_all()
            self.built_now = True
            return self._array
        key = cache_key(self.paths, self.size, self.interpolation, self.stain_norm, self.resize)
        target = self.cache_dir / "images" / f"{key}.npy"
        target.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(target.with_suffix(".lock")):
            if not target.exists():
                arr = self._decode_all()
                tmp = target.with_suffix(f".tmp{os.getpid()}.npy")
                np.save(tmp, arr)
                os.replace(tmp, target)
                meta = {"n": len(self.paths), "size": self.size, "first": self.paths[:3]}
                target.with_suffix(".json").write_text(jsonio.dumps(meta))
                self.built_now = True
                BUILT_CACHES.append(str(target))
        self._array = np.load(target, mmap_mode="r")
        return self._array

    def get(self, i: int) -> np.ndarray:
        """Image ``i`` as (H, W, 3) uint8."""
        return np.asarray(self.array()[i])


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
