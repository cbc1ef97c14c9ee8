"""Tags in and out of a file's bytes with pyexiv2, and the checks that a rewrite is safe.

Works on bytes, never paths: pyexiv2.Image(path) cannot open non-UTF-8 file names, and
building the new file in memory is what lets the writer verify it before anything is
replaced.
"""

from __future__ import annotations

import io
import zlib
from typing import Any

from .containers import is_metadata, jpeg_markers
from .errors import MetadataWriteError
from .imagedata import fingerprint
from .tiffedit import Damaged
from .metadata import read_exif_text
from .xmp import register_namespace, same_value
from .xmplenient import properties

WHOLE_FILE_UNDO_LIMIT = 64 * 1024 * 1024  # larger non-JPEG originals: undo restores tags only
# Pointers and offsets that move whenever a block grows: not values, never compared
# (the image data itself is compared separately, byte for byte or pixel for pixel).
_MOVING_SUFFIXES = (
    "ExifTag", "GPSTag", "InteroperabilityTag", "MakerNote", "MakerNote.Offset", "JPEGInterchangeFormat",
    "StripOffsets", "TileOffsets", "SubIFDs", "XMLPacket",
)


def read_tags(data: bytes) -> tuple[dict[str, str], dict[str, Any]]:
    import pyexiv2

    register_namespace()
    try:
        with pyexiv2.ImageData(data) as image:
            exif, xmp = read_exif_text(image), image.read_xmp()
    except (RuntimeError, ValueError, UnicodeDecodeError) as exc:
        raise MetadataWriteError(f"its metadata cannot be read for writing ({_first_line(exc)})") from exc
    return exif, properties(data, xmp)  # where the XMP Toolkit fails, read leniently


def modify(data: bytes, exif: dict[str, Any], xmp: dict[str, Any]) -> bytes:
    """The bytes with these tags set (None deletes a tag), made in memory."""
    import pyexiv2

    register_namespace()
    try:
        with pyexiv2.ImageData(data) as image:
            if exif:
                image.modify_exif(exif)
            if xmp:
                image.modify_xmp(xmp)
            return bytes(image.get_bytes())
    except (RuntimeError, ValueError, UnicodeDecodeError) as exc:
        raise MetadataWriteError(f"its metadata cannot be rewritten ({_first_line(exc)})") from exc


def verify(old: bytes, new: bytes, want_exif: dict[str, str], want_xmp: dict[str, Any], path: str) -> None:
    """The new bytes say what was meant, and nothing else changed: raise if not."""
    old_exif, old_xmp = read_tags(old)
    new_exif, new_xmp = read_tags(new)
    for key, value in {**want_exif, **want_xmp}.items():
        got = new_exif.get(key) if key.startswith("Exif.") else new_xmp.get(key)
        if not same_value(got, value):
            raise MetadataWriteError(f"{key} read back as {got!r} instead of {value!r}; nothing was written")
    for key, value in old_exif.items():
        if key not in want_exif and not key.endswith(_MOVING_SUFFIXES) and new_exif.get(key) != value:
            raise MetadataWriteError(f"writing would have changed {key}; nothing was written")
    for key, value in old_xmp.items():
        if key not in want_xmp and new_xmp.get(key) != value:
            raise MetadataWriteError(f"writing would have changed {key}; nothing was written")
    if old.startswith(b"<?xpacket") or old.lstrip().startswith(b"<x:xmpmeta"):
        return
    if image_data(old, path) != image_data(new, path):
        raise MetadataWriteError("writing would have changed the image data; nothing was written")


def image_data(data: bytes, path: str) -> bytes:
    """What must never change: a JPEG's bytes after its metadata segments; for PNG, WebP and
    TIFF a digest of their encoded image data (imagedata.py: no pixels decoded); else the pixels."""
    if data[:2] == b"\xff\xd8":
        return jpeg_image_data(data)
    found = fingerprint(data)
    if found is not None:
        return found
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        pixels = np.asarray(image)
    return pixels.tobytes() + repr((pixels.shape, pixels.dtype.str)).encode()


def jpeg_image_data(data: bytes) -> bytes:
    """A JPEG's image: every segment before the scan that is not APPn or COM (tables, frame
    header), then the scan data on. Some writers put XMP after the tables, so the image is
    not simply what follows the first metadata run."""
    segments, scan = _jpeg_markers(data)
    return b"".join(data[start:end] for start, end, marker in segments if not is_metadata(marker)) + data[scan:]


def jpeg_scan_offset(data: bytes) -> int:
    """Where a JPEG's scan (SOS) begins: everything before it is headers and metadata."""
    return _jpeg_markers(data)[1]


def _jpeg_markers(data: bytes) -> tuple[list[tuple[int, int, int]], int]:
    try:
        return jpeg_markers(data)
    except Damaged as exc:
        raise MetadataWriteError("its JPEG structure is damaged (no image data after the metadata)") from exc


def jpeg_image_offset(data: bytes) -> int:
    """Where a JPEG's metadata (APPn and COM segments after SOI) ends and its image begins."""
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            break
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if not (0xE0 <= marker <= 0xEF or marker == 0xFE):
            return at
        at += 2 + int.from_bytes(data[at + 2:at + 4], "big")
    raise MetadataWriteError("its JPEG structure is damaged (no image data after the metadata)")


def undo_record(original: bytes) -> tuple[str, bytes | None]:
    """What `undo` needs to give back these exact bytes.

    JPEG: the original's bytes before its scan, headers and metadata (the image data is
    verified identical, so original = stored prefix + current scan). Other formats: the whole original,
    zlib-compressed, up to WHOLE_FILE_UNDO_LIMIT; beyond it the recorded tag values.
    """
    if original[:2] == b"\xff\xd8":  # everything before the scan: metadata may follow the tables
        return "jpeg_prefix", zlib.compress(original[:jpeg_scan_offset(original)])
    if len(original) <= WHOLE_FILE_UNDO_LIMIT:
        return "whole", zlib.compress(original, 6)
    return "tags", None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
