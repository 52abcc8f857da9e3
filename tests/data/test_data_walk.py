"""OS and archive junk (__MACOSX, ._*, .DS_Store, Thumbs.db, desktop.ini) never becomes data."""

from __future__ import annotations

import cv2
import numpy as np

from breastbench.data.sources import folder
from breastbench.data.walk import JunkCount, is_junk, list_dir, walk_files


def _png(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((8, 8, 3), 100, np.uint8))


def test_folder_source_with_macosx_gives_two_classes(tmp_path):
    for cls in ("benign", "malignant"):
        for i in range(2):
            _png(tmp_path / cls / f"{cls}{i}.png")
            # what unzipping a Mac archive leaves: resource forks beside and under __MACOSX
            (tmp_path / "__MACOSX" / cls).mkdir(parents=True, exist_ok=True)
            (tmp_path / "__MACOSX" / cls / f"._{cls}{i}.png").write_bytes(b"\0\5\26\7")
            (tmp_path / cls / f"._{cls}{i}.png").write_bytes(b"\0\5\26\7")
        (tmp_path / cls / ".DS_Store").write_bytes(b"\0")
        (tmp_path / cls / "Thumbs.db").write_bytes(b"\0")
        (tmp_path / cls / "desktop.ini").write_text("[.ShellClassInfo]")
    (tmp_path / ".hidden").mkdir()
    df = folder.load(tmp_path)
    assert df.attrs["classes"] == ["benign", "malignant"]
    assert len(df) == 4
    assert not df["path"].str.contains("__MACOSX|/\\._", regex=True).any()
    note = next(n for n in df.attrs["notes"] if "junk" in n)
    # __MACOSX, .hidden at the top; per class 2 forks, .DS_Store, Thumbs.db, desktop.ini
    assert note.startswith("12 OS/archive junk entries ignored")


def test_walk_helpers_skip_and_count(tmp_path):
    _png(tmp_path / "a" / "x.png")
    _png(tmp_path / "__MACOSX" / "a" / "x.png")
    _png(tmp_path / "a" / "._x.png")
    junk = JunkCount()
    assert walk_files(tmp_path, (".png",), junk) == [str(tmp_path / "a" / "x.png")]
    assert junk.count == 2
    assert list_dir(tmp_path, dirs=True) == ["a"]
    assert [n for n in ("__MACOSX", "._a.png", "THUMBS.DB", "Desktop.ini", "a.png") if is_junk(n)]
    assert not is_junk("a.png")


def test_folder_source_counts_exif_rotated_photos(tmp_path):
    from PIL import Image

    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        img = Image.new("RGB", (16, 8), (10, 20, 30))
        exif = img.getexif()
        exif[0x0112] = 6
        img.save(tmp_path / cls / "rot.jpg", exif=exif)
        img.save(tmp_path / cls / "plain.jpg")
    df = folder.load(tmp_path)
    assert "2 image(s) with EXIF orientation read in display orientation" in df.attrs["notes"]
