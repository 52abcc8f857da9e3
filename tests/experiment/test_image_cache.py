"""The decoded-image cache returns exactly what decoding afresh returns, and is reused."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

from breastbench.experiment import images
from breastbench.experiment.images import ImageStore, decode_resized


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
    fresh = np.stack([decode_resized(p, size, "bicubic") for p in pngs])
    np.testing.assert_array_equal(arr, fresh)
    assert arr.shape == (4, *size, 3) and arr.dtype == np.uint8

    def no_decoding(*args, **kwargs):
        raise AssertionError("a second store must read the cache file, not decode")

    monkeypatch.setattr(images, "decode_resized", no_decoding)
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
