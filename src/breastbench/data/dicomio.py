"""DICOM to display pixels (and back, for synthetic data).

Mammograms are stored as 12-16 bit values that mean nothing on their own: the modality LUT
(rescale slope/intercept) maps them to physical units, the VOI LUT or window centre/width picks
the range a radiologist looks at, and MONOCHROME1 means "high values are dark". Skipping any of
these gives washed-out or inverted images, so reading applies all three, in that order.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from breastbench.errors import UserError

DICOM_EXTENSIONS = (".dcm", ".dicom")


def is_dicom(path: str | os.PathLike) -> bool:
    """True for a ``.dcm``/``.dicom`` name or a file with the ``DICM`` magic at byte 128."""
    if str(path).lower().endswith(DICOM_EXTENSIONS):
        return True
    try:
        with open(path, "rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def read_dicom(path: str | os.PathLike) -> np.ndarray:
    """Decode a DICOM file to a display-ready (H, W, 3) uint8 array."""
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        ds = pydicom.dcmread(path)
        raw = ds.pixel_array
    except Exception as err:  # pydicom raises many types for truncated/corrupt files
        raise UserError(
            f"cannot decode DICOM {path}: {type(err).__name__}: {err}; "
            "the file is truncated or corrupt (re-copy it or drop it from the manifest)"
        ) from None
    if int(getattr(ds, "NumberOfFrames", 1) or 1) > 1:
        raw = raw[0]  # multi-frame (e.g. tomosynthesis): the first frame is the 2D view
    photometric = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2"))
    if raw.ndim == 3:  # colour DICOM (RGB/YBR already converted by pydicom)
        return _to_uint8(raw.astype(np.float32))
    values = apply_modality_lut(raw, ds).astype(np.float32)
    if "WindowCenter" in ds or "VOILUTSequence" in ds:
        values = apply_voi_lut(values, ds, index=0).astype(np.float32)
    gray = _to_uint8(values)
    if photometric == "MONOCHROME1":
        gray = 255 - gray
    return np.repeat(gray[:, :, None], 3, axis=2)


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """Min-max scale a float image to 0..255 (after windowing the range is the window)."""
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return np.zeros(values.shape, dtype=np.uint8)
    return np.round((values - lo) * (255.0 / (hi - lo))).astype(np.uint8)


def write_dicom(
    path: str | os.PathLike,
    pixels: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    window: tuple[float, float] | None = None,
    rescale: tuple[float, float] = (1.0, 0.0),
    laterality: str = "",
    view: str = "",
    patient_id: str = "",
    uid_seed: str | None = None,
) -> Path:
    """Write a 16-bit grayscale mammogram-like DICOM (used by the synthetic density source).

    ``window`` is (centre, width); ``rescale`` is (slope, intercept) of the modality LUT;
    ``uid_seed`` makes the instance UID (and so the file bytes) deterministic.
    """
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    assert pixels.dtype == np.uint16 and pixels.ndim == 2
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.2"  # digital mammography
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[uid_seed] if uid_seed else None)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "MG"
    ds.PatientID = patient_id
    ds.ImageLaterality = laterality
    ds.ViewPosition = view
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = 0
    ds.RescaleSlope, ds.RescaleIntercept = rescale
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = pixels.tobytes()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
