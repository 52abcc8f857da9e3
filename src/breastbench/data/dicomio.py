"""DICOM to display pixels (and back, for synthetic data).

Mammograms are stored as 12-16 bit values that mean nothing on their own: the modality LUT
(rescale slope/intercept) maps them to physical units, the VOI LUT or window centre/width picks
the range a radiologist looks at, and MONOCHROME1 means "high values are dark". Skipping any of
these gives washed-out or inverted images, so reading applies all three, in that order.

Those three steps belong to grayscale only. A colour DICOM (RGB, YBR_FULL, YBR_FULL_422...) is
already display pixels: YBR is converted to RGB with pydicom's ``convert_color_space`` and the
values are kept as stored (8-bit as is, deeper samples scaled by their stored bit depth), never
windowed or min-max stretched. A multi-frame file gives its first frame. What was applied to a
file is returned by :func:`decode_dicom` as a list of steps, so callers can record it.
"""

from __future__ import annotations

import os
import sys
import threading
import warnings
from pathlib import Path

import numpy as np

from breastbench import jsonio
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
    return decode_dicom(path)[0]


#: photometric interpretations pydicom's ``convert_color_space`` turns into RGB
YBR_INTERPRETATIONS = ("YBR_FULL", "YBR_FULL_422")


def decode_dicom(path: str | os.PathLike) -> tuple[np.ndarray, list[str]]:
    """Decode a DICOM file; return the (H, W, 3) uint8 pixels and the steps applied.

    Grayscale: modality LUT, then the VOI LUT or window (pydicom's ``apply_voi_lut``) when the
    file has one, MONOCHROME1 inversion, then a min-max scale to 0..255. Colour: YBR converted
    to RGB, samples kept (no windowing, no stretch). The steps read like
    ``["first of 3 frames", "modality LUT", "VOI window", "MONOCHROME1 inverted"]``.
    """
    import pydicom
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        with quiet_native():  # pydicom warns on every odd tag value of vendor files
            ds = pydicom.dcmread(path)
    except Exception as err:  # pydicom raises many types for truncated/corrupt files
        raise UserError(
            f"cannot read DICOM {path}: {type(err).__name__}: {err}; the file is truncated or "
            "not DICOM (re-copy it or drop it from the manifest)"
        ) from None
    why = undecodable_reason(ds)
    if why:
        raise UserError(f"cannot decode DICOM {path}: {why}")
    try:
        with quiet_native():
            raw, photometric = _first_frame(ds)
    except Exception as err:
        raise UserError(
            f"cannot decode DICOM {path}: {type(err).__name__}: {err}; the pixel data is "
            "truncated or corrupt (re-copy it or drop it from the manifest)"
        ) from None
    frames = int(getattr(ds, "NumberOfFrames", 1) or 1)
    steps = [f"first of {frames} frames"] if frames > 1 else []
    if raw.ndim == 3:  # colour: display values already, only the colour space may change
        return _colour_to_uint8(raw, ds, photometric, steps), steps
    values = apply_modality_lut(raw, ds).astype(np.float32)
    if "RescaleSlope" in ds or "RescaleIntercept" in ds or "ModalityLUTSequence" in ds:
        steps.append("modality LUT")
    if "WindowCenter" in ds or "VOILUTSequence" in ds:
        values = apply_voi_lut(values, ds, index=0).astype(np.float32)
        steps.append("VOI LUT" if "VOILUTSequence" in ds else "VOI window")
    gray = _to_uint8(values)
    if photometric == "MONOCHROME1":
        gray = 255 - gray
        steps.append("MONOCHROME1 inverted")
    steps.append("min-max scaled to 8 bits")
    return np.repeat(gray[:, :, None], 3, axis=2), steps


def _first_frame(ds) -> tuple[np.ndarray, str]:
    """The first frame as stored (no colour conversion) and its photometric interpretation.

    pydicom's decoder reports the interpretation of what it returns (a JPEG codec may already
    have turned YBR into RGB), so the conversion below is applied exactly once.
    """
    from pydicom.pixels import get_decoder
    from pydicom.uid import ExplicitVRLittleEndian

    meta = getattr(ds, "file_meta", None)
    ts = getattr(meta, "TransferSyntaxUID", None) or ExplicitVRLittleEndian
    arr, info = get_decoder(ts).as_array(ds, index=0, as_rgb=False)
    photometric = str(
        info.get("photometric_interpretation")
        or getattr(ds, "PhotometricInterpretation", "MONOCHROME2")
    )
    return arr, photometric


def _colour_to_uint8(raw: np.ndarray, ds, photometric: str, steps: list[str]) -> np.ndarray:
    """Colour samples to RGB uint8: YBR converted by pydicom, deeper samples scaled by bits."""
    from pydicom.pixels import convert_color_space

    if photometric in YBR_INTERPRETATIONS:
        raw = convert_color_space(raw, photometric, "RGB")
        steps.append(f"{photometric} converted to RGB")
    elif photometric != "RGB":
        raise UserError(
            f"cannot decode DICOM colour pixels with photometric interpretation {photometric}; "
            "convert the file to RGB or YBR_FULL"
        )
    if raw.dtype == np.uint8:
        return np.ascontiguousarray(raw)
    bits = int(getattr(ds, "BitsStored", 8 * raw.dtype.itemsize) or 8)
    steps.append(f"{bits}-bit samples scaled to 8 bits")
    scaled = raw.astype(np.float64) * (255.0 / ((1 << bits) - 1))
    return np.clip(np.round(scaled), 0, 255).astype(np.uint8)


#: transfer syntax -> pip package(s) that decode it, for the advice when none is installed
_DECODER_PACKAGES = {
    "pylibjpeg": "pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg pylibjpeg-rle",
    "pyjpegls": "pyjpegls",
    "gdcm": "python-gdcm",
    "pillow": "pillow",
}


def undecodable_reason(ds) -> str | None:
    """Why pydicom cannot give pixels for ``ds`` (one clause with the fix), or None if it can.

    Separates the two cases that are not damage: a DICOM without pixel data (a report, a
    presentation state) and a transfer syntax whose decoder plugin is not installed.
    """
    from pydicom.pixels import get_decoder

    if not any(tag in ds for tag in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        return (
            "the file has no pixel data (e.g. a structured report or presentation state); "
            "remove it from the dataset"
        )
    ts = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if ts is None or not ts.is_compressed:
        return None
    try:
        decoder = get_decoder(ts)
    except NotImplementedError:
        return (
            f"no pydicom decoder exists for transfer syntax {ts.name} ({ts}); convert the file "
            "to an uncompressed syntax (e.g. gdcmconv --raw, or dcmdjpeg from DCMTK)"
        )
    if decoder.is_available:
        return None
    plugins = sorted(decoder._available | decoder._unavailable)  # noqa: SLF001 (pydicom API)
    packages = " or ".join(_DECODER_PACKAGES.get(p, p) for p in plugins if p != "pydicom")
    return (
        f"transfer syntax {ts.name} ({ts}) needs a decoder plugin that is not installed; "
        f"pip install {packages}"
    )


_QUIET_LOCK = threading.Lock()
_QUIET_STATE = {"depth": 0, "saved_fd": None, "warn": None}


class quiet_native:  # noqa: N801 (a context manager, named like contextlib's helpers)
    """Keep decoder libraries' own warnings and C-level stderr lines off the user's screen.

    Python warnings (pydicom, Pillow) are suppressed and file descriptor 2 points at
    /dev/null while decoding, which silences libpng/libjpeg/OpenCV messages printed from C.
    Re-entrant and thread-safe: the first entry redirects, the last exit restores.
    """

    def __enter__(self):
        with _QUIET_LOCK:
            if _QUIET_STATE["depth"] == 0:
                warn = warnings.catch_warnings()
                warn.__enter__()
                warnings.simplefilter("ignore")
                _QUIET_STATE["warn"] = warn
                try:
                    sys.stderr.flush()
                    saved = os.dup(2)
                    devnull = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(devnull, 2)
                    os.close(devnull)
                    _QUIET_STATE["saved_fd"] = saved
                except (OSError, ValueError):  # no real fd 2: warnings are still silenced
                    _QUIET_STATE["saved_fd"] = None
            _QUIET_STATE["depth"] += 1
        return self

    def __exit__(self, *exc):
        with _QUIET_LOCK:
            _QUIET_STATE["depth"] -= 1
            if _QUIET_STATE["depth"] == 0:
                saved = _QUIET_STATE["saved_fd"]
                if saved is not None:
                    os.dup2(saved, 2)
                    os.close(saved)
                _QUIET_STATE["warn"].__exit__(None, None, None)
        return False


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
    return jsonio.atomic_write(path, lambda tmp: ds.save_as(tmp, enforce_file_format=True))
