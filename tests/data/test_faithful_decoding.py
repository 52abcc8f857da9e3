"""Faithful decoding: every format decodes to what a reference library shows.

Raster images are compared with Pillow (``Image.convert("RGB")``); DICOMs with pydicom's own
pixel pipeline (``pixel_array`` with its YBR -> RGB conversion, ``apply_modality_lut``,
``apply_voi_lut``). Fixtures are built here from known arrays. Deeper-than-8-bit grayscale is
min-max scaled to 8 bits (the documented rule), so its reference is Pillow's/pydicom's values
scaled the same way. Truncated files are errors that name the file.
"""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import FileMetaDataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut, convert_color_space
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from breastbench.data.dicomio import decode_dicom
from breastbench.data.imageio import read_image
from breastbench.errors import UserError

RNG = np.random.default_rng(7)
RGB = (RNG.random((24, 32, 3)) * 255).astype(np.uint8)


def pillow_rgb(path) -> np.ndarray:
    """What Pillow shows: the first frame converted to RGB."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def stretch(values: np.ndarray) -> np.ndarray:
    """The documented min-max scale of deep grayscale to 0..255."""
    v = values.astype(np.float64)
    return np.round((v - v.min()) * (255.0 / (v.max() - v.min()))).astype(np.uint8)


def _save(img: Image.Image, path, **kw):
    img.save(path, **kw)
    return path


RASTER = {
    "gray8.png": lambda p: _save(Image.fromarray(RGB).convert("L"), p),
    "rgb.png": lambda p: _save(Image.fromarray(RGB), p),
    "rgba.png": lambda p: _save(Image.fromarray(RGB).convert("RGBA"), p),
    "la.png": lambda p: _save(Image.fromarray(RGB).convert("LA"), p),
    "palette.png": lambda p: _save(Image.fromarray(RGB).convert("P"), p),
    "palette.bmp": lambda p: _save(Image.fromarray(RGB).convert("P"), p),
    "gray.pgm": lambda p: _save(Image.fromarray(RGB).convert("L"), p),
    "baseline.jpg": lambda p: _save(Image.fromarray(RGB), p, quality=90),
    "gray.jpg": lambda p: _save(Image.fromarray(RGB).convert("L"), p, quality=90),
    "progressive.jpg": lambda p: _save(Image.fromarray(RGB), p, quality=90, progressive=True),
    "cmyk.jpg": lambda p: _save(Image.fromarray(RGB).convert("CMYK"), p, quality=95),
    "lzw.tif": lambda p: _save(Image.fromarray(RGB), p, compression="tiff_lzw"),
}


@pytest.mark.parametrize("name", sorted(RASTER))
def test_8bit_raster_formats_decode_like_pillow(tmp_path, name):
    path = RASTER[name](tmp_path / name)
    np.testing.assert_array_equal(read_image(path), pillow_rgb(path))


def test_multipage_tiff_uses_the_first_page(tmp_path):
    path = tmp_path / "pages.tif"
    first, second = Image.fromarray(RGB), Image.fromarray(RGB[::-1].copy())
    first.save(path, save_all=True, append_images=[second])
    np.testing.assert_array_equal(read_image(path), RGB)


def test_16bit_gray_png_is_min_max_scaled(tmp_path):
    gray = (RNG.random((24, 32)) * 4000 + 100).astype(np.uint16)
    path = tmp_path / "gray16.png"
    Image.fromarray(gray).save(path)
    with Image.open(path) as im:
        ref = np.asarray(im)
    np.testing.assert_array_equal(read_image(path), np.repeat(stretch(ref)[..., None], 3, 2))


def test_16bit_rgba_equals_the_same_image_without_alpha(tmp_path):
    cv2 = pytest.importorskip("cv2")
    rgb16 = (RNG.random((24, 32, 3)) * 4000).astype(np.uint16)
    alpha = np.full((24, 32, 1), 65535, np.uint16)
    cv2.imwrite(str(tmp_path / "rgb16.png"), rgb16[..., ::-1])
    cv2.imwrite(str(tmp_path / "rgba16.png"), np.concatenate([rgb16[..., ::-1], alpha], 2))
    with_alpha, without = read_image(tmp_path / "rgba16.png"), read_image(tmp_path / "rgb16.png")
    np.testing.assert_array_equal(with_alpha, without)
    np.testing.assert_array_equal(without, stretch(rgb16))


@pytest.mark.parametrize("name", ["baseline.jpg", "progressive.jpg", "rgb.png"])
def test_truncated_file_is_an_error_naming_it(tmp_path, name):
    full = RASTER[name](tmp_path / f"full-{name}")
    data = full.read_bytes()
    cut = tmp_path / name
    cut.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(UserError, match=str(cut)):
        read_image(cut)


# --- DICOM ---------------------------------------------------------------------------------


def make_dicom(path, pixels: np.ndarray, photometric: str, **tags) -> pydicom.Dataset:
    """A minimal uncompressed DICOM holding ``pixels`` as stored."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PhotometricInterpretation = photometric
    colour = photometric not in ("MONOCHROME1", "MONOCHROME2")
    ds.SamplesPerPixel = 3 if colour else 1
    if colour:
        ds.PlanarConfiguration = 0
    frames = tags.pop("frames", 1)
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.Rows, ds.Columns = tags.pop("shape")
    bits = pixels.dtype.itemsize * 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, bits, bits - 1
    ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
    for key, value in tags.items():
        setattr(ds, key, value)
    ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return pydicom.dcmread(path)


def test_dicom_rgb_keeps_its_values(tmp_path):
    pixels = RGB.copy()
    pixels[0, 0] = (200, 40, 120)
    ds = make_dicom(tmp_path / "rgb.dcm", pixels, "RGB", shape=RGB.shape[:2])
    out, steps = decode_dicom(tmp_path / "rgb.dcm")
    assert tuple(out[0, 0]) == (200, 40, 120)
    np.testing.assert_array_equal(out, ds.pixel_array)
    np.testing.assert_array_equal(out, pixels)
    assert not any("scaled" in s or "VOI" in s for s in steps)


def test_dicom_ybr_full_is_converted_by_pydicom(tmp_path):
    ybr = convert_color_space(RGB, "RGB", "YBR_FULL")
    ds = make_dicom(tmp_path / "ybr.dcm", ybr, "YBR_FULL", shape=RGB.shape[:2])
    out, steps = decode_dicom(tmp_path / "ybr.dcm")
    np.testing.assert_array_equal(out, convert_color_space(ybr, "YBR_FULL", "RGB"))
    np.testing.assert_array_equal(out, ds.pixel_array)  # pydicom's as_rgb default
    assert steps == ["YBR_FULL converted to RGB"]


def test_dicom_ybr_full_422_is_upsampled_and_converted(tmp_path):
    pairs_rgb = np.repeat(RGB[:, ::2], 2, axis=1)  # equal pairs: subsampling loses nothing
    ybr = convert_color_space(pairs_rgb, "RGB", "YBR_FULL")
    # 4:2:2 stores Y0 Y1 Cb Cr for each pair of pixels along a row
    pairs = ybr.reshape(24, 16, 2, 3)
    packed = np.concatenate([pairs[:, :, :, 0], pairs[:, :, 0, 1:]], axis=2)
    ds = make_dicom(
        tmp_path / "ybr422.dcm", packed.astype(np.uint8), "YBR_FULL_422", shape=(24, 32)
    )
    out, _ = decode_dicom(tmp_path / "ybr422.dcm")
    np.testing.assert_array_equal(out, ds.pixel_array)
    np.testing.assert_array_equal(out, convert_color_space(ybr, "YBR_FULL", "RGB"))


@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
def test_dicom_grayscale_window_and_inversion(tmp_path, photometric):
    raw = (RNG.random((24, 32)) * 4000).astype(np.uint16)
    ds = make_dicom(
        tmp_path / "g.dcm",
        raw,
        photometric,
        shape=raw.shape,
        RescaleSlope=2,
        RescaleIntercept=-100,
        WindowCenter=3000,
        WindowWidth=2000,
    )
    out, steps = decode_dicom(tmp_path / "g.dcm")
    values = apply_voi_lut(apply_modality_lut(ds.pixel_array, ds).astype(np.float32), ds)
    ref = stretch(values)
    if photometric == "MONOCHROME1":
        ref = 255 - ref
    np.testing.assert_array_equal(out, np.repeat(ref[..., None], 3, 2))
    assert "VOI window" in steps and "modality LUT" in steps
    assert ("MONOCHROME1 inverted" in steps) == (photometric == "MONOCHROME1")


def test_dicom_signed_pixels(tmp_path):
    raw = (RNG.random((24, 32)) * 3000 - 1500).astype(np.int16)
    ds = make_dicom(tmp_path / "s.dcm", raw, "MONOCHROME2", shape=raw.shape)
    assert ds.pixel_array.min() < 0
    out, _ = decode_dicom(tmp_path / "s.dcm")
    np.testing.assert_array_equal(out[..., 0], stretch(raw))


def test_dicom_multiframe_uses_the_first_frame(tmp_path):
    frames = (RNG.random((3, 24, 32)) * 4000).astype(np.uint16)
    make_dicom(tmp_path / "mf.dcm", frames, "MONOCHROME2", shape=(24, 32), frames=3)
    out, steps = decode_dicom(tmp_path / "mf.dcm")
    np.testing.assert_array_equal(out[..., 0], stretch(frames[0]))
    assert steps[0] == "first of 3 frames"


def test_dicom_multiframe_rgb(tmp_path):
    frames = np.stack([RGB, RGB[::-1]])
    make_dicom(tmp_path / "mfc.dcm", frames, "RGB", shape=(24, 32), frames=2)
    np.testing.assert_array_equal(read_image(tmp_path / "mfc.dcm"), RGB)
