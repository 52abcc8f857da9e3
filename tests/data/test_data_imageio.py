"""Image reading: raster formats, 16-bit, DICOM LUTs/windowing/MONOCHROME1, decode errors."""

from __future__ import annotations

import os

import cv2
import numpy as np
import pytest
import tifffile

from breastbench.data import read_image
from breastbench.errors import UserError


@pytest.fixture
def rgb():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)


@pytest.mark.parametrize("ext", [".png", ".tif", ".bmp"])
def test_lossless_rgb_round_trip(tmp_path, rgb, ext):
    path = tmp_path / f"x{ext}"
    cv2.imwrite(str(path), rgb[:, :, ::-1])  # OpenCV writes BGR
    assert np.array_equal(read_image(path), rgb)


def test_jpeg_close_to_source(tmp_path, rgb):
    smooth = cv2.GaussianBlur(rgb, (7, 7), 3)
    cv2.imwrite(str(tmp_path / "x.jpg"), smooth[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 98])
    got = read_image(tmp_path / "x.jpg")
    assert got.shape == (20, 30, 3) and np.abs(got.astype(int) - smooth).mean() < 3


def test_pgm_gray_replicated(tmp_path):
    gray = np.arange(200, dtype=np.uint8).reshape(10, 20)
    cv2.imwrite(str(tmp_path / "x.pgm"), gray)
    got = read_image(tmp_path / "x.pgm")
    assert got.shape == (10, 20, 3) and all(np.array_equal(got[..., c], gray) for c in range(3))


def test_16bit_png_stretched(tmp_path):
    gray = np.array([[0, 1000], [2000, 4000]], dtype=np.uint16)
    cv2.imwrite(str(tmp_path / "x.png"), gray)
    got = read_image(tmp_path / "x.png")[..., 0]
    assert got.tolist() == [[0, 64], [128, 255]]  # 1000/4000*255 = 63.75


def test_tifffile_rgb(tmp_path, rgb):
    tifffile.imwrite(tmp_path / "x.tiff", rgb)
    assert np.array_equal(read_image(tmp_path / "x.tiff"), rgb)


def test_dicom_monochrome2_plain(tmp_path, write_dcm):
    px = np.array([[0, 100], [200, 400]], dtype=np.uint16)
    got = read_image(write_dcm(tmp_path / "a.dcm", px))
    assert got.shape == (2, 2, 3) and got[..., 0].tolist() == [[0, 64], [128, 255]]


def test_dicom_monochrome1_is_inverted(tmp_path, write_dcm):
    px = np.array([[0, 100], [200, 400]], dtype=np.uint16)
    m2 = read_image(write_dcm(tmp_path / "a.dcm", px))
    m1 = read_image(write_dcm(tmp_path / "b.dcm", px, photometric="MONOCHROME1"))
    assert np.array_equal(m1, 255 - m2)


def test_dicom_window_and_rescale(tmp_path, write_dcm):
    # stored 0..1000, rescale y = 2x - 100 -> -100..1900; window centre 500 width 400 -> 300..700
    px = np.linspace(0, 1000, 64).astype(np.uint16).reshape(8, 8)
    path = write_dcm(tmp_path / "w.dicom", px, window=(500, 400), rescale=(2.0, -100.0))
    got = read_image(path)[..., 0].astype(float)
    hu = 2.0 * px - 100.0
    # reference: DICOM PS3.3 C.11.2.1.2 linear window, then stretched to 0..255
    lo, hi = 500 - 0.5 - (400 - 1) / 2, 500 - 0.5 + (400 - 1) / 2
    ref = np.clip((hu - lo) / (hi - lo), 0, 1) * 255
    assert np.abs(got - ref).max() <= 1.0
    assert got[hu <= 300].max() == 0 and got[hu >= 700].min() == 255


def test_dicom_found_by_magic_without_extension(tmp_path, write_dcm):
    path = write_dcm(tmp_path / "noext", np.full((4, 4), 7, np.uint16))
    assert read_image(path).shape == (4, 4, 3)


def test_corrupt_png_names_the_file(tmp_path, cli, error_line):
    bad = tmp_path / "cls" / "broken.png"
    bad.parent.mkdir()
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(UserError, match="broken.png"):
        read_image(bad)
    code, _, err = cli("data", "inspect", "folder", tmp_path, "--decode")
    assert code == 2 and "cannot decode image" in error_line(err)


def test_truncated_dicom_names_the_file(tmp_path, cli, error_line, write_dcm):
    full = write_dcm(tmp_path / "cls" / "t.dcm", np.zeros((64, 64), np.uint16)).read_bytes()
    (tmp_path / "cls" / "t.dcm").write_bytes(full[: len(full) // 2])
    code, _, err = cli("data", "inspect", "folder", tmp_path, "--decode")
    line = error_line(err)
    assert code == 2 and "cannot decode DICOM" in line and "t.dcm" in line


def test_missing_image(tmp_path):
    with pytest.raises(UserError, match="not found"):
        read_image(tmp_path / "none.png")


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_rotated_jpeg_reads_in_display_orientation(tmp_path, orientation):
    from PIL import Image, ImageOps

    from breastbench.data.imageio import exif_orientation, read_image

    # a non-square, asymmetric picture so every rotation/flip is distinguishable
    stored = np.zeros((24, 40, 3), np.uint8)
    stored[:8, :10] = (255, 0, 0)
    stored[16:, 30:] = (0, 0, 255)
    img = Image.fromarray(stored)
    exif = img.getexif()
    exif[0x0112] = orientation
    path = tmp_path / f"phone_{orientation}.jpg"
    img.save(path, quality=100, subsampling=0, exif=exif)
    assert exif_orientation(path) == orientation
    with Image.open(path) as im:
        expected = np.asarray(ImageOps.exif_transpose(im).convert("RGB"))
    got = read_image(path)
    assert got.shape == expected.shape
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 2  # decoder rounding only


def test_native_library_noise_stays_off_the_screen(tmp_path, capfd):
    import warnings

    from breastbench.data.dicomio import quiet_native

    good = tmp_path / "ok.png"
    cv2.imwrite(str(good), np.full((32, 32, 3), 7, np.uint8))
    data = good.read_bytes()
    bad = tmp_path / "cut.png"
    bad.write_bytes(data[: len(data) // 2])  # libpng complains on stderr from C
    with pytest.raises(UserError) as err:
        read_image(bad)
    assert "\n" not in str(err.value)
    with quiet_native():
        os.write(2, b"libpng warning: iCCP: known incorrect sRGB profile\n")
        warnings.warn("pydicom: invalid value for VR UI", UserWarning, stacklevel=1)
    os.write(2, b"after\n")  # stderr is back once decoding ends
    captured = capfd.readouterr()
    assert captured.err == "after\n" and captured.out == ""
