"""Fixtures for the data-layer tests: the real BreakHis listing as empty files, a CLI runner."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from breastbench.cli import main

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


def shared_path(*parts: str) -> Path:
    """Path under ../shared/data, skipping the test when it is not there."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path


def write_dicom_file(path, pixels, photometric="MONOCHROME2", window=None, rescale=None):
    """Write a minimal grayscale DICOM with pydicom (explicit VR little endian)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "MG"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    bits = 16 if pixels.dtype == np.uint16 else 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = bits, bits, bits - 1
    ds.PixelRepresentation = 0
    if rescale:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
    if window:
        ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = pixels.tobytes()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return Path(path)


def single_error_line(err: str) -> str:
    """Assert stderr is exactly one ``error: ...`` line (no traceback) and return it."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.fixture(scope="session")
def breakhis_tree(tmp_path_factory) -> Path:
    """The 7,909 real BreakHis paths (Kaggle layout) as empty files."""
    listing = shared_path("breakhis", "listing.csv")
    root = tmp_path_factory.mktemp("breakhis")
    with open(listing, newline="") as fh:
        for row in csv.DictReader(fh):
            rel = row["filepath"].split("BreaKHis_v1/", 1)[1]  # drop the ../data/versions prefix
            path = root / "BreaKHis_v1" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    return root


@pytest.fixture
def cli(capsys):
    """Run ``breastbench`` in-process; return (exit code, stdout, stderr)."""

    def run(*argv):
        code = main([str(a) for a in argv])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture
def shared():
    """``shared("mias")`` -> path under ../shared/data, skipping the test when absent."""
    return shared_path


@pytest.fixture
def write_dcm():
    """Function writing a grayscale DICOM with pydicom."""
    return write_dicom_file


@pytest.fixture
def error_line():
    """Function asserting stderr is one ``error: ...`` line, returning it."""
    return single_error_line
