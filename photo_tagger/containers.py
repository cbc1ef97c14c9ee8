"""Where each file format keeps its metadata: JPEG segments, and the one XMP packet a reader
should see in a JPEG, TIFF, PNG, WebP or sidecar.

A packet found anywhere else in the bytes (inside a thumbnail, an unknown chunk) is not the
file's XMP, and exiftool does not read it either.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

from .tiffedit import Damaged, Unsupported, ifd0_value

EXIF_HEADER = b"Exif\x00\x00"
XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_XMP_KEYWORD = b"XML:com.adobe.xmp\x00"
XMP_LIMIT = 16 * 1024 * 1024  # a compressed packet may not expand past this (a zip bomb)


def jpeg_markers(data: bytes) -> tuple[list[tuple[int, int, int]], int]:
    """(start, end, marker) of every segment before a JPEG's scan, and where the scan (SOS)
    begins. Some writers put XMP after the quantisation tables, so metadata and tables mix."""
    found, at = [], 2
    while at + 4 <= len(data) and data[at] == 0xFF:
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker == 0xDA:  # start of scan: the metadata is behind us
            return found, at
        end = at + 2 + int.from_bytes(data[at + 2:at + 4], "big")
        found.append((at, end, marker))
        at = end
    raise Damaged("no image data after the metadata")


def is_metadata(marker: int) -> bool:
    """APPn and COM segments hold metadata; every other segment belongs to the image."""
    return 0xE0 <= marker <= 0xEF or marker == 0xFE


def jpeg_segments(data: bytes) -> dict[int, tuple[int, bytes]]:
    """Each APPn and COM segment before the scan data: start -> (marker, payload)."""
    return {start: (marker, data[start + 4:end]) for start, end, marker in jpeg_markers(data)[0]
            if is_metadata(marker)}


def xmp_packet(data: bytes) -> bytes | None:
    """The file's own XMP packet, where its format keeps it; None where it has none."""
    try:
        if data[:2] == b"\xff\xd8":
            return next((p[len(XMP_HEADER):] for m, p in jpeg_segments(data).values()
                         if m == 0xE1 and p.startswith(XMP_HEADER)), None)
        if data[:4] in (b"II*\x00", b"MM\x00*"):
            found = ifd0_value(data, 700)
            return found[1] if found else None
        if data.startswith(PNG_SIGNATURE):
            return _png_xmp(data)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            return _riff_chunk(data, b"XMP ")
    except (Damaged, Unsupported, struct.error, zlib.error):
        return None
    return data  # a sidecar, or a format phototag does not take apart: the bytes themselves


def _png_xmp(data: bytes) -> bytes | None:
    for kind, body in png_chunks(data):
        if kind == b"iTXt" and body.startswith(PNG_XMP_KEYWORD):
            rest = body[len(PNG_XMP_KEYWORD):]
            compressed, text = rest[0], rest[2:].split(b"\x00", 2)[-1]  # past language and translated keyword
            return zlib.decompressobj().decompress(text, XMP_LIMIT) if compressed else text
    return None


def png_chunks(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(type, body) of each chunk but the image data (text may follow it); a truncated chunk ends the walk."""
    offset = len(PNG_SIGNATURE)
    while offset + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        if kind == b"IEND" or offset + 12 + length > len(data):
            return
        if kind != b"IDAT":
            yield kind, data[offset + 8:offset + 8 + length]
        offset += 12 + length


def _riff_chunk(data: bytes, fourcc: bytes) -> bytes | None:
    at = 12
    while at + 8 <= len(data):
        kind, size = data[at:at + 4], struct.unpack_from("<I", data, at + 4)[0]
        if kind == fourcc:
            return data[at + 8:at + 8 + size]
        at += 8 + size + (size & 1)
    return None
