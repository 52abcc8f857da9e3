"""The decoded-image cache returns exactly what decoding afresh returns, and is reused."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from breastbench.experiment import images
from breastbench.experiment.images import ImageStore
from breastbench.models.preprocess import decode


@pytest.fixture
def pngs(tmp_path):
    """Four small RGB PNGs of a size other than the target (so resizing happens)."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(4):
        p = tmp_path / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (46, 70, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    return paths


def test_cache_equals_fresh_decoding_and_is_read_back(pngs, tmp_path, monkeypatch):
    size = (24, 32)
    first = ImageStore(pngs, size, tmp_path / "cache", "bicubic")
    arr = np.asarray(first.array())
    assert first.built_now
    fresh = np.stack([decode(p, size, "bicubic") for p in pngs])
    np.testing.assert_array_equal(arr, fresh)
    assert arr.shape == (4, *size, 3) and arr.dtype == np.uint8

    def no_decoding(*args, **kwargs):
        raise AssertionError("a second store must read the cache file, not decode")

    monkeypatch.setattr(images, "decode", no_decoding)
    second = ImageStore(pngs, size, tmp_path / "cache", "bicubic")
    np.testing.assert_array_equal(np.asarray(second.array()), fresh)
    assert not second.built_now
    assert isinstance(second.array(), np.memmap)
    np.testing.assert_array_equal(second.get(2), fresh[2])


def test_changed_file_or_size_gives_a_new_cache(pngs, tmp_path):
    ImageStore(pngs, (24, 32), tmp_path / "cache").array()
    other_size = ImageStore(pngs, (16, 16), tmp_path / "cache")
    other_size.array()
    assert other_size.built_now
    st = os.stat(pngs[0])
    os.utime(pngs[0], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    touched = ImageStore(pngs, (24, 32), tmp_path / "cache")
    touched.array()
    assert touched.built_now


def _gray_pngs(tmp_path, n=5):
    rng = np.random.default_rng(1)
    paths = []
    for i in range(n):
        p = tmp_path / f"gray{i}.png"
        Image.fromarray(rng.integers(0, 256, (40, 30), dtype=np.uint8)).save(p)
        paths.append(str(p))
    return paths


def test_grayscale_stored_as_one_channel_and_equals_fresh(tmp_path):
    paths = _gray_pngs(tmp_path)
    store = ImageStore(paths, (16, 16), tmp_path / "cache")
    arr = store.array()
    fresh = np.stack([decode(p, (16, 16), "bicubic") for p in paths])
    np.testing.assert_array_equal(arr, fresh)
    np.testing.assert_array_equal(store.get(3), fresh[3])
    (npy,) = (tmp_path / "cache" / "images").glob("*.npy")
    assert np.load(npy, mmap_mode="r").shape == (5, 16, 16, 1)


def test_colour_after_gray_widens_and_process_pool_matches(tmp_path, pngs):
    paths = _gray_pngs(tmp_path, 12) + pngs  # colour images after gray ones
    fresh = np.stack([decode(p, (16, 16), "bicubic") for p in paths])
    threads = ImageStore(paths, (16, 16), tmp_path / "c1", executor="thread").array()
    np.testing.assert_array_equal(threads, fresh)
    procs = ImageStore(paths, (16, 16), None, threads=2, executor="process").array()
    np.testing.assert_array_equal(procs, fresh)


def test_truncated_or_unmarked_cache_is_rebuilt(pngs, tmp_path):
    ImageStore(pngs, (24, 32), tmp_path / "cache").array()
    (npy,) = (tmp_path / "cache" / "images").glob("*.npy")
    with open(npy, "r+b") as fh:
        fh.truncate(npy.stat().st_size - 100)
    again = ImageStore(pngs, (24, 32), tmp_path / "cache")
    fresh = np.stack([decode(p, (24, 32), "bicubic") for p in pngs])
    np.testing.assert_array_equal(again.array(), fresh)
    assert again.built_now
    npy.with_suffix(".json").unlink()  # a build killed between rename and sidecar
    third = ImageStore(pngs, (24, 32), tmp_path / "cache")
    np.testing.assert_array_equal(third.array(), fresh)
    assert third.built_now
    assert not list(npy.parent.glob("*.tmp*"))


def test_peak_memory_does_not_grow_with_n(tmp_path):
    import tracemalloc

    paths = _gray_pngs(tmp_path, 40)
    many = paths * 10  # 400 entries (the same files; the store decodes each entry)
    peaks = []
    for n in (80, 400):
        tracemalloc.start()
        ImageStore(many[:n], (64, 64), tmp_path / f"c{n}", progress=False).array()
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    full_rgb = 400 * 64 * 64 * 3
    assert peaks[1] < 0.5 * full_rgb, peaks
    assert peaks[1] < 2 * peaks[0] + 200_000, peaks


def test_a_build_killed_halfway_restarts_cleanly(tmp_path):
    """SIGKILL while the memory-mapped file is half written: the next build starts over."""
    import signal
    import subprocess
    import sys
    import time

    rng = np.random.default_rng(1)
    paths = []
    for i in range(400):
        p = tmp_path / "img" / f"{i}.png"
        p.parent.mkdir(exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    cache = tmp_path / "cache"
    listing = tmp_path / "paths.txt"
    listing.write_text("\n".join(paths))
    code = (
        "import time, sys\n"
        "from breastbench.experiment import images\n"
        "real = images.decode\n"
        "def slow(*a, **k):\n    time.sleep(0.01)\n    return real(*a, **k)\n"
        "images.decode = slow\n"
        f"paths = open({str(listing)!r}).read().split()\n"
        f"images.ImageStore(paths, (32, 32), {str(cache)!r}, 'bicubic', executor='thread',"
        " threads=1, progress=False).array()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.time() + 60
    while time.time() < deadline and not list((cache / "images").glob("*.tmp*")):
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list((cache / "images").glob("*.tmp*")), "the build was not caught halfway"
    assert not list((cache / "images").glob("*.json"))  # never marked complete
    store = ImageStore(paths, (32, 32), cache, "bicubic", progress=False)
    arr = np.asarray(store.array())
    assert store.built_now
    fresh = np.stack([decode(p, (32, 32), "bicubic") for p in paths[:20]])
    np.testing.assert_array_equal(arr[:20], fresh)
    assert not list((cache / "images").glob("*.tmp*"))  # the dead build's file is gone
