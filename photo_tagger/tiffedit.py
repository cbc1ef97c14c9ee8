"""Set or delete tags of a TIFF structure's Exif IFD without moving a byte of what is there.

exiv2 re-serialises a whole EXIF block when it saves: it drops image-structure tags from a
JPEG's IFD0, moves maker notes whose inner offsets it cannot know, and leaves what it cannot
parse behind. An edit that changes only what it means to appends a new Exif IFD (the old
entries, verbatim, and the new ones, in tag order) with its new values after the block, and
updates the one 4-byte pointer to it in IFD0. Every old offset stays valid, maker notes'
included; the old Exif IFD is left unreferenced.
"""

from __future__ import annotations

import struct

EXIF_POINTER = 0x8769
_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
ASCII, SHORT, RATIONAL, UNDEFINED = 2, 3, 5, 7
# What phototag writes into the Exif IFD, by pyexiv2's key: (tag, TIFF type)
WRITABLE = {
    "Exif.Photo.FNumber": (0x829D, RATIONAL),
    "Exif.Photo.FocalLength": (0x920A, RATIONAL),
    "Exif.Photo.FocalLengthIn35mmFilm": (0xA405, SHORT),
    "Exif.Photo.ExifVersion": (0x9000, UNDEFINED),
    "Exif.Photo.LensSpecification": (0xA432, RATIONAL),
    "Exif.Photo.LensMake": (0xA433, ASCII),
    "Exif.Photo.LensModel": (0xA434, ASCII),
}


class Unsupported(Exception):
    """This structure or tag needs a full rewrite; the caller decides whether to make one."""


class Damaged(Exception):
    """The structure's own pointers lead outside it: nothing should be written into it."""


def edit_exif_ifd(tiff: bytes, changes: dict[str, str | None]) -> bytes:
    """The TIFF block with these Exif IFD tags set (None deletes), old bytes all in place."""
    return edit_tiff(tiff, changes, {})


def edit_tiff(tiff: bytes, exif: dict[str, str | None], ifd0: dict[int, tuple[int, bytes] | None]) -> bytes:
    """The TIFF with Exif IFD tags (pyexiv2 keys) and IFD0 tags (number -> (type, bytes), or
    None to delete) changed; each changed IFD is copied to the end and pointed to."""
    if any(key not in WRITABLE for key in exif):
        raise Unsupported("a tag outside the Exif IFD")
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None or _unpack(order + "H", tiff, 2)[0] != 42:
        raise Damaged("not a TIFF header")
    out = bytearray(tiff)
    if exif:
        ifd0_at = _unpack(order + "I", tiff, 4)[0]
        pointer = next((pos for pos, tag in _entries(tiff, ifd0_at, order) if tag == EXIF_POINTER), None)
        if pointer is None:
            raise Unsupported("no Exif IFD to add to")
        encoded = {WRITABLE[key][0]: None if value is None else (WRITABLE[key][1], _encode(key, value, order))
                   for key, value in exif.items()}
        _relink(out, pointer + 8, encoded, order)
    if ifd0:
        _relink(out, 4, {tag: None if v is None else (v[0], (len(v[1]), v[1])) for tag, v in ifd0.items()}, order)
    return bytes(out)


def _relink(out: bytearray, pointer_at: int, changes: dict[int, tuple[int, tuple[int, bytes]] | None],
            order: str) -> None:
    """Append a copy of the IFD the 4 bytes at pointer_at lead to, with changes (tag ->
    (type, (count, bytes)) or None), and lead them to the copy."""
    old = _unpack(order + "I", out, pointer_at)[0]
    found = _entries(bytes(out), old, order)
    entries = {tag: bytes(out[pos:pos + 12]) for pos, tag in found}
    if len(entries) != len(found):
        raise Unsupported("an IFD that names a tag twice")
    next_ifd = bytes(out[old + 2 + 12 * len(found):old + 6 + 12 * len(found)])
    if len(out) % 2:
        out.append(0)
    start = len(out)
    for tag in changes:
        entries.pop(tag, None)
    new = {tag: change for tag, change in changes.items() if change is not None}
    data_at = start + 2 + 12 * (len(entries) + len(new)) + 4
    blobs = bytearray()
    for tag, (kind, (count, data)) in sorted(new.items()):
        head = struct.pack(order + "HHI", tag, kind, count)
        if len(data) <= 4:
            entries[tag] = head + data.ljust(4, b"\0")
            continue
        entries[tag] = head + struct.pack(order + "I", data_at + len(blobs))
        blobs += data + b"\0" * (len(data) % 2)
    out += struct.pack(order + "H", len(entries)) + b"".join(entries[tag] for tag in sorted(entries))
    out += next_ifd + blobs
    out[pointer_at:pointer_at + 4] = struct.pack(order + "I", start)


def ifd0_value(tiff: bytes, tag: int) -> tuple[int, bytes, int] | None:
    """(type, bytes, offset) of one IFD0 tag (XMP is tag 700 there), or None when absent."""
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None or _unpack(order + "H", tiff, 2)[0] != 42:
        raise Unsupported("not a classic TIFF")
    for pos, found in _entries(tiff, _unpack(order + "I", tiff, 4)[0], order):
        if found == tag:
            _, kind, count, value = _unpack(order + "HHII", tiff, pos)
            size = _SIZES.get(kind, 1) * count
            at = pos + 8 if size <= 4 else value
            return kind, tiff[at:at + size], at
    return None


def _entries(tiff: bytes, offset: int, order: str) -> list[tuple[int, int]]:
    """(position, tag) of each entry of the IFD at offset, every value's extent checked."""
    count = _unpack(order + "H", tiff, offset)[0]
    if offset + 6 + 12 * count > len(tiff):
        raise Damaged("an IFD runs past the block")
    found = []
    for pos in range(offset + 2, offset + 2 + 12 * count, 12):
        tag, kind, n, value = _unpack(order + "HHII", tiff, pos)
        size = _SIZES.get(kind, 1) * n
        if size > 4 and value + size > len(tiff):
            raise Damaged(f"tag {tag:#06x} points past the block")
        found.append((pos, tag))
    return found


def _unpack(fmt: str, data: bytes, at: int) -> tuple:
    if at < 0 or at + struct.calcsize(fmt) > len(data):
        raise Damaged("a pointer leads outside the block")
    return struct.unpack_from(fmt, data, at)


def _encode(key: str, value: str, order: str) -> tuple[int, bytes]:
    """(count, bytes) of one value given as pyexiv2 writes it ('28/10', '77', '48 50 51 48')."""
    kind = WRITABLE[key][1]
    if kind == RATIONAL:
        pairs = [_rational(key, part) for part in value.split()]
        return len(pairs), b"".join(struct.pack(order + "II", n, d) for n, d in pairs)
    if kind == SHORT:
        if not str(value).isdigit() or int(value) > 0xFFFF:
            raise Unsupported(f"{key} {value!r} is not a SHORT")
        return 1, struct.pack(order + "H", int(value))
    if kind == UNDEFINED:
        data = bytes(int(part) for part in value.split())
        return len(data), data
    data = value.encode("utf-8") + b"\0"
    return len(data), data


def _rational(key: str, text: str) -> tuple[int, int]:
    """'28/10' as (28, 10), kept as given (exiv2 reads it back the same); '5' as (5, 1)."""
    top, _, bottom = text.partition("/")
    try:
        n, d = int(top), int(bottom or 1)
    except ValueError as exc:
        raise Unsupported(f"{key} {text!r} is not a rational") from exc
    if not (0 <= n <= 0xFFFFFFFF and 0 < d <= 0xFFFFFFFF):
        raise Unsupported(f"{key} {text!r} is not an unsigned rational")
    return n, d
