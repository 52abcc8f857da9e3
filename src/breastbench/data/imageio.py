"""Read any image a source can list (PNG, JPEG, TIFF, PGM, DICOM) as (H, W, 3) uint8 RGB.

One reader for every source and for training means one place where bit depth, channel order
and grayscale handling are decided. OpenCV decodes the raster formats (fast, handles 16-bit
PNG/TIFF and PGM), and camera/phone JPEGs are turned into their EXIF display orientation;
tifffile is the fallback for TIFFs OpenCV refuses; CMYK/YCCK JPEGs are converted by Pillow
(OpenCV's CMYK formula differs); a multi-page TIFF gives its first page; DICOM goes through
:mod:`breastbench.data.dicomio`; ``<file.h5>#<index>`` paths (PCam patches) through
:mod:`breastbench.data.h5members`. A file that cannot be decoded raises :class:`UserError`
naming it, so one corrupt image among thousands is easy to find.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from breastbench.data.dicomio import DICOM_EXTENSIONS, is_dicom, quiet_native, read_dicom
from breastbench.data.h5members import read_member, split_member
from breastbench.errors import UserError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".pgm", ".bmp") + DICOM_EXTENSIONS


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode ``path`` into an (H, W, 3) uint8 RGB array; grayscale is replicated to 3 channels."""
    path = os.fspath(path)
    if split_member(path) is not None:  # one patch of an HDF5 array (PCam), read lazily
        return read_member(path)
    if not os.path.isfile(path):
        raise UserError(f"image file {path} not found; fix the path in the manifest")
    # OpenCV crashes (SIGSEGV) on a non-UTF-8 file name: raise UnicodeEncodeError instead,
    # which the CLI's boundary turns into one line naming the file
    path.encode("utf-8")
    if is_dicom(path):
        return read_dicom(path)
    if _is_jpeg(path):
        _check_jpeg_complete(path)
        if _pillow_mode(path) == "CMYK":  # CMYK/YCCK (Adobe) JPEG: Pillow's conversion
            return _apply_orientation(_read_with_pillow(path), exif_orientation(path))
    # IMREAD_UNCHANGED keeps 16-bit depth but ignores EXIF orientation: applied below
    with quiet_native():  # libpng/libtiff warnings ("iCCP: known incorrect sRGB profile")
        img, bgr = cv2.imread(path, cv2.IMREAD_UNCHANGED), True
    if img is None and path.lower().endswith((".tif", ".tiff")):
        with quiet_native():
            img, bgr = _read_tiff(path), False
    if img is None or img.size == 0:
        size = os.path.getsize(path)
        raise UserError(
            f"cannot decode image {path} ({size} bytes): the file is empty, truncated or not "
            "an image; re-copy it or remove it from the dataset"
        )
    return _apply_orientation(_to_rgb_uint8(img, bgr=bgr), exif_orientation(path))


def _is_jpeg(path: str) -> bool:
    """True when the file starts with the JPEG SOI marker (whatever its extension)."""
    with open(path, "rb") as fh:
        return fh.read(3) == b"\xff\xd8\xff"


def _check_jpeg_complete(path: str) -> None:
    """Refuse a JPEG cut short: its last scan must be followed by the end-of-image marker.

    libjpeg decodes a truncated file without complaint (grey fill below the cut); the
    markers ``FF DA`` (start of scan) and ``FF D9`` (end of image) cannot occur inside
    entropy-coded data, so a file whose last scan has no end marker after it was cut.
    """
    with open(path, "rb") as fh:
        data = fh.read()
    last_scan = data.rfind(b"\xff\xda")
    if last_scan >= 0 and data.find(b"\xff\xd9", last_scan) < 0:
        raise UserError(
            f"image {path} is truncated ({len(data)} bytes, the JPEG has no end-of-image "
            "marker); re-copy it or remove it from the dataset"
        )


def _pillow_mode(path: str) -> str:
    """Pillow's mode for the file's header (e.g. ``CMYK``), '' when Pillow cannot parse it."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.mode
    except Exception:  # OpenCV gets its turn and names the file if it fails too
        return ""


def _read_with_pillow(path: str) -> np.ndarray:
    """Decode with Pillow and convert to RGB (its CMYK conversion handles Adobe inversion)."""
    from PIL import Image

    try:
        with quiet_native(), Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except Exception as err:  # Pillow raises OSError/SyntaxError/ValueError on bad data
        raise UserError(
            f"cannot decode image {path}: {err}; re-copy it or remove it from the dataset"
        ) from None


#: EXIF Orientation value -> the numpy operation that turns stored pixels into display ones
#: (the same transforms as ``PIL.ImageOps.exif_transpose``).
_ORIENT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


def exif_orientation(path: str | os.PathLike) -> int:
    """The EXIF Orientation (1..8) of a JPEG/TIFF/PNG/WebP, 1 when absent or unreadable.

    Only the header is parsed (Pillow opens lazily), so checking costs no decode.
    """
    if not str(path).lower().endswith((".jpg", ".jpeg", ".tif", ".tiff", ".png", ".webp")):
        return 1
    from PIL import Image

    try:
        with Image.open(path) as im:
            value = int(im.getexif().get(0x0112, 1) or 1)
    except Exception:  # a header Pillow cannot parse: OpenCV already decoded the pixels
        return 1
    return value if value in _ORIENT else 1


def _apply_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    """Rotate/flip decoded pixels into display orientation (what every viewer shows)."""
    if orientation == 1:
        return img
    return np.ascontiguousarray(_ORIENT[orientation](img))


def _read_tiff(path: str) -> np.ndarray | None:
    """Fallback for TIFF variants OpenCV cannot read (e.g. some tiled/compressed slides)."""
    import tifffile

    try:
        return tifffile.imread(path)  # already RGB order
    except Exception:  # tifffile raises assorted types on bad data
        return None


def _to_rgb_uint8(img: np.ndarray, bgr: bool) -> np.ndarray:
    """Drop alpha, scale deeper bit depths to 8 bits, replicate gray, BGR -> RGB.

    Alpha goes first: it is not intensity, so it never joins the min-max scaling (an opaque
    16-bit RGBA image decodes exactly like the same image without alpha).
    """
    if img.ndim == 3 and img.shape[2] in (2, 4):
        img = img[:, :, : img.shape[2] - 1]
    if img.dtype != np.uint8:
        img = img.astype(np.float32)
        lo, hi = float(img.min()), float(img.max())
        # 16-bit PNG/PGM often use only 10-12 bits: stretch the used range, not 0..65535
        img = np.zeros(img.shape, np.uint8) if hi <= lo else (img - lo) * (255.0 / (hi - lo))
        img = np.round(img).astype(np.uint8)
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    if img.shape[2] == 1:
        return np.repeat(img, 3, axis=2)
    return np.ascontiguousarray(img[:, :, ::-1]) if bgr else img
