"""A fingerprint of the bytes that make a PNG, WebP or TIFF image, metadata left out.

A write must change tags and nothing the pixels come from. Decoding both versions to
compare pixels cost gigabytes on a 15000x15000 PNG, so the check hashes the encoded image
data instead, straight from the file's structure, through memoryviews (no copies):

- PNG: every chunk in order except metadata (eXIf, tIME, and text chunks holding XMP or
  exiv2's "Raw profile type ..." blocks); a user's own text chunks count, so they must stay.
- WebP: every RIFF chunk except EXIF and XMP; VP8X only by what changes the picture (its
  canvas and its ICC and animation flags), as adding EXIF turns a simple file into VP8X.
- TIFF: each IFD's strip or tile bytes, found through their offsets; the image-structure
  tags themselves are compared with the other tags (tagio.verify).
"""

from __future__ import annotations

import hashlib
import struct

from .errors import MetadataWriteError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_METADATA = {b"eXIf", b"tIME"}
_PNG_TEXT = {b"tEXt", b"zTXt", b"iTXt"}
_WEBP_METADATA = {b"EXIF", b"XMP "}
_VP8X_KEPT_FLAGS = 0x20 | 0x02  # ICC profile, animation: alpha, EXIF and XMP bits are hints
_MAX_IFDS = 1024  # a loop in a damaged IFD chain ends here


def fingerprint(data: bytes) -> bytes | None:
    """A digest of the image data of a PNG, WebP or TIFF; None for other formats."""
    if data.startswith(PNG_SIGNATURE):
        parts = _png(memoryview(data))
    elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        parts = _webp(memoryview(data))
    elif data[:4] in (b"II*\x00", b"MM\x00*"):
        parts = _tiff(memoryview(data))
    else:
        return None
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.digest()


def _damaged(kind: str) -> MetadataWriteError:
    return MetadataWriteError(f"its {kind} structure is damaged; nothing was written")


def _png(view: memoryview) -> list[memoryview | bytes]:
    parts: list[memoryview | bytes] = []
    at = len(PNG_SIGNATURE)
    while at + 12 <= len(view):
        length = int.from_bytes(view[at:at + 4], "big")
        kind = bytes(view[at + 4:at + 8])
        end = at + 12 + length
        if end > len(view):
            raise _damaged("PNG")
        if not _png_metadata(kind, view[at + 8:at + 8 + min(length, 80)]):
            parts.append(view[at + 4:end])  # type, data and CRC
        at = end
        if kind == b"IEND":
            return parts
    raise _damaged("PNG")


def _png_metadata(kind: bytes, head: memoryview) -> bool:
    """Whether a chunk holds metadata a tag write may rewrite, not image data or user text."""
    if kind in _PNG_METADATA:
        return True
    if kind not in _PNG_TEXT:
        return False
    keyword = bytes(head).split(b"\x00", 1)[0]
    return keyword == b"XML:com.adobe.xmp" or keyword.startswith(b"Raw profile type")


def _webp(view: memoryview) -> list[memoryview | bytes]:
    parts: list[memoryview | bytes] = []
    canvas: bytes | None = None
    bitstream_size: bytes | None = None
    end_of_riff = min(len(view), 8 + int.from_bytes(view[4:8], "little"))
    at = 12
    while at + 8 <= end_of_riff:
        kind = bytes(view[at:at + 4])
        size = int.from_bytes(view[at + 4:at + 8], "little")
        body = view[at + 8:at + 8 + size]
        if len(body) != size:
            raise _damaged("WebP")
        if kind == b"VP8X" and size >= 10:
            canvas = bytes([body[0] & _VP8X_KEPT_FLAGS]) + bytes(body[4:10])
        elif kind in (b"VP8 ", b"VP8L"):
            bitstream_size = _webp_size(kind, body)
            parts.append(view[at:at + 8 + size])
        elif kind not in _WEBP_METADATA:
            parts.append(view[at:at + 8 + size])
        at += 8 + size + (size & 1)
    if canvas is None:  # a simple file: its canvas is its one bitstream's size, no flags
        if bitstream_size is None:
            raise _damaged("WebP")
        canvas = b"\x00" + bitstream_size
    return [canvas, *parts]


def _webp_size(kind: bytes, body: memoryview) -> bytes:
    """A bitstream's width-1 and height-1 as VP8X stores the canvas (24 bits each)."""
    if kind == b"VP8 " and len(body) >= 10:
        width = int.from_bytes(body[6:8], "little") & 0x3FFF
        height = int.from_bytes(body[8:10], "little") & 0x3FFF
    elif kind == b"VP8L" and len(body) >= 5:
        bits = int.from_bytes(body[1:5], "little")
        width, height = (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    else:
        raise _damaged("WebP")
    return (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")


def _tiff(view: memoryview) -> list[memoryview | bytes]:
    order = "<" if view[:2] == b"II" else ">"
    parts: list[memoryview | bytes] = []
    offset = struct.unpack_from(order + "I", view, 4)[0]
    seen: set[int] = set()
    while offset and offset not in seen and len(seen) < _MAX_IFDS:
        seen.add(offset)
        entries, offset = _tiff_ifd(view, order, offset)
        for offsets_tag, counts_tag in ((273, 279), (324, 325)):  # strips, tiles
            if offsets_tag in entries:
                starts, counts = entries[offsets_tag], entries.get(counts_tag, [])
                if len(starts) != len(counts):
                    raise _damaged("TIFF")
                for start, count in zip(starts, counts):
                    if start + count > len(view):
                        raise _damaged("TIFF")
                    parts.append(view[start:start + count])
    if not parts:
        raise _damaged("TIFF")
    return parts


def _tiff_ifd(view: memoryview, order: str, offset: int) -> tuple[dict[int, list[int]], int]:
    """The strip and tile offset/count arrays of one IFD, and the next IFD's offset."""
    try:
        count = struct.unpack_from(order + "H", view, offset)[0]
        found: dict[int, list[int]] = {}
        for i in range(count):
            tag, kind, n, value = struct.unpack_from(order + "HHI4s", view, offset + 2 + 12 * i)
            if tag not in (273, 279, 324, 325) or kind not in (3, 4):
                continue
            if n > len(view) // 2:
                raise _damaged("TIFF")
            fmt = order + ("H" if kind == 3 else "I") * n
            if struct.calcsize(fmt) <= 4:  # the values fit in the entry itself
                found[tag] = list(struct.unpack_from(fmt, value))
            else:
                found[tag] = list(struct.unpack_from(fmt, view, struct.unpack_from(order + "I", value)[0]))
        return found, struct.unpack_from(order + "I", view, offset + 2 + 12 * count)[0]
    except struct.error as exc:
        raise _damaged("TIFF") from exc
