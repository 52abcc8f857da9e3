"""Every transfer syntax pydicom decodes with the installed plugins, on fixtures encoded here.

Each fixture is encoded from a known uncompressed image (pydicom's own encoders where they
exist, imagecodecs for JPEG Lossless, Pillow for JPEG Baseline) and must decode to the same
pixels: exactly for the lossless syntaxes, within JPEG quantisation for Baseline.
"""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate
from pydicom.uid import (
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

from breastbench.data.dicomio import read_dicom, write_dicom
from breastbench.errors import UserError


def _pixels(bits: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:64]
    img = (xx * 40 + yy * 25) % (1 << bits) + rng.integers(0, 8, (48, 64))
    return np.clip(img, 0, (1 << bits) - 1).astype(np.uint16)


def _original(tmp_path, bits=12):
    pixels = _pixels(bits)
    path = write_dicom(tmp_path / "raw.dcm", pixels, uid_seed="codec")
    ds = pydicom.dcmread(path)
    ds.BitsStored, ds.HighBit = bits, bits - 1
    return ds, pixels


@pytest.mark.parametrize("syntax", [RLELossless, JPEGLSLossless, JPEG2000Lossless])
def test_pydicom_encoded_lossless_syntaxes_decode_exactly(tmp_path, syntax):
    ds, pixels = _original(tmp_path)
    ds.compress(syntax, encoding_plugin="" if syntax != RLELossless else "pydicom")
    out = tmp_path / f"{syntax.name[:8]}.dcm"
    ds.save_as(out)
    back = pydicom.dcmread(out)
    assert back.file_meta.TransferSyntaxUID == syntax
    np.testing.assert_array_equal(back.pixel_array, pixels)
    ref = read_dicom(tmp_path / "raw.dcm")
    np.testing.assert_array_equal(read_dicom(out), ref)


def test_jpeg_lossless_sv1_decodes_exactly(tmp_path):
    imagecodecs = pytest.importorskip("imagecodecs")
    ds, pixels = _original(tmp_path)
    ds.PixelData = encapsulate([imagecodecs.ljpeg_encode(pixels, bitspersample=12)])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGLosslessSV1
    out = tmp_path / "ljpeg.dcm"
    ds.save_as(out)
    back = pydicom.dcmread(out)
    np.testing.assert_array_equal(back.pixel_array, pixels)
    np.testing.assert_array_equal(read_dicom(out), read_dicom(tmp_path / "raw.dcm"))


def test_jpeg_baseline_decodes_within_quantisation(tmp_path):
    from PIL import Image

    pixels8 = (_pixels(8)).astype(np.uint8)
    path = write_dicom(tmp_path / "raw.dcm", pixels8.astype(np.uint16), uid_seed="b")
    ds = pydicom.dcmread(path)
    buf = io.BytesIO()
    Image.fromarray(pixels8).save(buf, format="JPEG", quality=95)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelData = encapsulate([buf.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    out = tmp_path / "baseline.dcm"
    ds.save_as(out)
    decoded = pydicom.dcmread(out).pixel_array
    reference = np.asarray(Image.open(io.BytesIO(buf.getvalue())))
    assert np.abs(decoded.astype(int) - reference.astype(int)).max() <= 1
    assert np.abs(decoded.astype(int) - pixels8.astype(int)).mean() < 2.0
    assert read_dicom(out).shape == (48, 64, 3)


def test_dicom_without_pixel_data_says_so(tmp_path):
    ds, _ = _original(tmp_path)
    del ds.PixelData
    out = tmp_path / "report.dcm"
    ds.save_as(out)
    with pytest.raises(UserError) as err:
        read_dicom(out)
    msg = str(err.value)
    assert "no pixel data" in msg and "corrupt" not in msg and "\n" not in msg


def test_missing_decoder_names_syntax_and_package(tmp_path, monkeypatch):
    ds, _ = _original(tmp_path)
    ds.compress(JPEGLSLossless)
    out = tmp_path / "jls.dcm"
    ds.save_as(out)
    from pydicom.pixels import get_decoder

    decoder = get_decoder(JPEGLSLossless)
    monkeypatch.setattr(decoder, "_available", {})
    monkeypatch.setattr(decoder, "_unavailable", {"pyjpegls": ("pyjpegls",), "pylibjpeg": ()})
    with pytest.raises(UserError) as err:
        read_dicom(out)
    msg = str(err.value)
    assert "JPEG-LS Lossless" in msg and "pip install" in msg and "pyjpegls" in msg
    assert "corrupt" not in msg and "\n" not in msg
