"""Images stored inside HDF5 files, addressed as ``<file.h5>#<index>`` manifest paths.

PatchCamelyon ships its 327,680 patches as four-dimensional uint8 arrays in HDF5 files
(``camelyonpatch_level_2_split_train_x.h5``, dataset ``x`` of shape (N, 96, 96, 3)). Unpacking
them into files would cost hundreds of thousands of inodes, so a manifest row names one patch
as ``/abs/path/file.h5#12345`` and the one image reader reads that row lazily through h5py:
one patch per call, never the whole array. Open files are kept per process (a small LRU of
read-only handles, with a chunk cache big enough for a compressed chunk or two), so the image
cache decoding patches in order does not reopen the file for each one. MedMNIST's ``.npz``
files (BreastMNIST) use the same scheme, ``<file.npz>#<index>`` over its train, val and test
images in that order; those arrays are small and are loaded once per process.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict

import numpy as np

from breastbench.errors import UserError

H5_EXTENSIONS = (".h5", ".hdf5")
NPZ_SPLITS = ("train", "val", "test")  # MedMNIST .npz: <split>_images, in this order
SEPARATOR = "#"
MAX_OPEN = 8  # files kept open per process
CHUNK_CACHE_BYTES = 16 * 1024 * 1024

_OPEN: OrderedDict = OrderedDict()
_LOCK = threading.Lock()


def member_path(file: str | os.PathLike, index: int) -> str:
    """The manifest path of image ``index`` of the HDF5 file ``file``."""
    return f"{os.fspath(file)}{SEPARATOR}{int(index)}"


def split_member(path: str | os.PathLike) -> tuple[str, int] | None:
    """``(file, index)`` for an ``<file.h5>#<index>`` path, ``None`` for an ordinary path."""
    text = os.fspath(path)
    file, sep, index = text.rpartition(SEPARATOR)
    if not sep or not file.lower().endswith((*H5_EXTENSIONS, ".npz")) or not index.isdigit():
        return None
    return file, int(index)


def image_file(path: str | os.PathLike) -> str:
    """The file on disk that holds ``path`` (the HDF5 file for a member path)."""
    member = split_member(path)
    return member[0] if member else os.fspath(path)


def _handle(file: str):
    """A read-only h5py handle of ``file``, opened once per process (LRU of ``MAX_OPEN``)."""
    import h5py

    with _LOCK:
        fh = _OPEN.get(file)
        if fh is not None and fh.id.valid:
            _OPEN.move_to_end(file)
            return fh
        if not os.path.isfile(file):
            raise UserError(f"HDF5 file {file} not found; fix the path in the manifest")
        try:
            fh = h5py.File(file, "r", rdcc_nbytes=CHUNK_CACHE_BYTES)
        except OSError as err:
            raise UserError(f"cannot open HDF5 file {file}: {err}; re-copy it") from None
        _OPEN[file] = fh
        while len(_OPEN) > MAX_OPEN:
            _close(_OPEN.popitem(last=False)[1])
        return fh


def image_dataset(fh, file: str):
    """The image array in an HDF5 file: dataset ``x`` (PCam), else its only 4-d dataset."""
    if "x" in fh:
        return fh["x"]
    arrays = [fh[k] for k in fh if getattr(fh[k], "ndim", 0) == 4]
    if len(arrays) != 1:
        raise UserError(f"{file}: expected a dataset 'x' of shape (N, H, W, 3); found {list(fh)}")
    return arrays[0]


def npz_images(file: str) -> np.ndarray:
    """A MedMNIST ``.npz``'s ``train/val/test_images`` concatenated (small; cached per process)."""
    with _LOCK:
        cached = _OPEN.get(file)
        if cached is None:
            if not os.path.isfile(file):
                raise UserError(f"npz file {file} not found; fix the path in the manifest")
            with np.load(file) as data:
                parts = [data[f"{s}_images"] for s in NPZ_SPLITS if f"{s}_images" in data]
            if not parts:
                raise UserError(f"{file}: no train_images/val_images/test_images arrays")
            cached = _OPEN[file] = np.concatenate(parts)
        return cached


def read_member(path: str | os.PathLike) -> np.ndarray:
    """Read one image ``<file.h5>#<index>`` as (H, W, 3) uint8, touching only that image.

    ``<file.npz>#<index>`` (MedMNIST) indexes the train, val and test images in that order.
    """
    member = split_member(path)
    if member is None:
        raise UserError(f"{path} is not an '<file.h5>#<index>' path")
    file, index = member
    if file.lower().endswith(".npz"):
        images = npz_images(file)
        if index >= len(images):
            raise UserError(f"{path}: index {index} is past the end of {file} ({len(images)})")
        return _rgb(np.asarray(images[index]), file)
    fh = _handle(file)
    with _LOCK:  # h5py serialises anyway; the lock keeps the LRU and the read together
        data = image_dataset(fh, file)
        if index >= data.shape[0]:
            raise UserError(
                f"{path}: index {index} is past the end of {file} ({data.shape[0]} images)"
            )
        img = np.asarray(data[index])
    return _rgb(img, file)


def _rgb(img: np.ndarray, file: str) -> np.ndarray:
    if img.dtype != np.uint8:
        raise UserError(f"{file}: images must be uint8, found {img.dtype}")
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    elif img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=2)
    return np.ascontiguousarray(img[..., :3])


def close_all() -> None:
    """Close every handle this process keeps (tests, and before a file is rewritten)."""
    with _LOCK:
        while _OPEN:
            _close(_OPEN.popitem()[1])


def _close(handle) -> None:
    """Close an h5py file; a cached npz array needs nothing."""
    if hasattr(handle, "close"):
        handle.close()
