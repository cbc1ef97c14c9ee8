"""Write phototag's tags into a JPEG or TIFF by changing its EXIF and XMP only.

Saving through exiv2 rebuilds every metadata segment: it moves the COM segment, re-encodes
IPTC times (leaving IPTCDigest stale), reformats the XMP packet and drops tags it does not
keep. Of 1,145 real photos stripped of lens EXIF, 11% were refused by the verifier for it
and 8% more gained an exiftool warning (bench/write_fidelity.py). Here every other segment
is copied byte for byte; the Exif IFD gets its tags as tiffedit.py adds them; the XMP packet
gets one more rdf:Description, in its padding where that has room. What this cannot do
(no EXIF yet, extended XMP, a tag phototag already wrote) raises Unsupported, and the
caller falls back to exiv2's rewrite, which the verifier still checks.
"""

from __future__ import annotations

import re
import struct
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from .containers import EXIF_HEADER, XMP_HEADER, jpeg_segments
from .errors import MetadataWriteError
from .tagio import modify
from .tiffedit import Damaged, Unsupported, edit_exif_ifd, edit_tiff, ifd0_value
from .xmp import NAMESPACE, PREFIX
from .xmplenient import rejected

EXTENDED_XMP = b"http://ns.adobe.com/xmp/extension/\x00"
XMP_TAG = 700  # a TIFF's XMP packet, in IFD0
MAX_SEGMENT = 0xFFFF - 2  # a segment's payload, after its two length bytes
NAMESPACES = {
    "exif": "http://ns.adobe.com/exif/1.0/", "exifEX": "http://cipa.jp/exif/1.0/",
    "aux": "http://ns.adobe.com/exif/1.0/aux/", PREFIX: NAMESPACE,
}
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"



def rewrite(data: bytes, exif: dict[str, Any], xmp: dict[str, Any], old_xmp: dict[str, Any]) -> bytes:
    """The photo with these tags: in place where the file allows, else exiv2's full rewrite."""
    try:
        if data[:4] in (b"II*\x00", b"MM\x00*"):
            return write_tiff(data, exif, xmp, old_xmp)
        return write_jpeg(data, exif, xmp, old_xmp)
    except Unsupported:
        if rejected(data):  # exiv2 would replace the whole packet with its own
            raise MetadataWriteError("its XMP packet is one the XMP Toolkit refuses (a property given twice, as GIMP "
                                     "writes them) and phototag cannot add to it safely; nothing was written "
                                     "(--sidecar writes beside it)") from None
        return modify(data, exif, xmp)
    except Damaged as exc:
        raise MetadataWriteError(f"its EXIF block is damaged ({exc}); nothing was written "
                                 "(--sidecar writes beside it)") from exc


def write_jpeg(data: bytes, exif: dict[str, Any], xmp: dict[str, Any], old_xmp: dict[str, Any]) -> bytes:
    """The JPEG with these tags, every segment but EXIF and XMP as it was.

    old_xmp: the packet's properties as read, so a property already there (a second write)
    goes to the full rewrite instead of appearing twice.
    """
    if data[:2] != b"\xff\xd8":
        raise Unsupported("not a JPEG")
    segments = jpeg_segments(data)
    if any(payload.startswith(EXTENDED_XMP) for _, payload in segments.values()):
        raise Unsupported("extended XMP")
    out = bytearray(data)
    edits = []  # (start, end, new bytes), applied from the end so earlier offsets hold
    if exif:
        start, payload = _find(segments, EXIF_HEADER, "EXIF")
        tiff = edit_exif_ifd(payload[len(EXIF_HEADER):], exif)
        edits.append((start, start + 4 + len(payload), _segment(EXIF_HEADER + tiff)))
    if xmp:
        _addable(xmp, old_xmp)
        try:
            start, payload = _find(segments, XMP_HEADER, "XMP")
            edits.append((start, start + 4 + len(payload), _segment(XMP_HEADER + add_to_packet(payload[len(XMP_HEADER):], xmp))))
        except LookupError:
            at = _after_exif(segments)
            edits.append((at, at, _segment(XMP_HEADER + new_packet(xmp))))
    for start, end, new in sorted(edits, reverse=True):
        out[start:end] = new
    return bytes(out)


def write_tiff(data: bytes, exif: dict[str, Any], xmp: dict[str, Any], old_xmp: dict[str, Any]) -> bytes:
    """The TIFF with these tags: a new Exif IFD and, for XMP, a new IFD0 with the grown packet
    (tag 700), both appended; strips, tiles and every other IFD stay where they are."""
    ifd0: dict[int, tuple[int, bytes] | None] = {}
    if xmp:
        _addable(xmp, old_xmp)
        found = ifd0_value(data, XMP_TAG)
        packet = add_to_packet(found[1], xmp) if found else new_packet(xmp)
        if found and len(packet) == len(found[1]):  # it fit in the padding: in place
            data = data[:found[2]] + packet + data[found[2] + len(packet):]
        else:  # a grown packet goes to the end, with a copy of IFD0 pointing to it
            ifd0[XMP_TAG] = (found[0] if found else 1, packet)
    return edit_tiff(data, exif, ifd0)


def _addable(xmp: dict[str, Any], old_xmp: dict[str, Any]) -> None:
    """Only new properties are added in place; replacing or deleting one needs the rewrite."""
    if any(key in old_xmp for key in xmp) or any(value is None for value in xmp.values()):
        raise Unsupported("replacing XMP properties")


def _find(segments: dict[int, tuple[int, bytes]], header: bytes, name: str) -> tuple[int, bytes]:
    hits = [(start, payload) for start, (marker, payload) in segments.items()
            if marker == 0xE1 and payload.startswith(header)]
    if not hits:
        if name == "XMP":
            raise LookupError(name)
        raise Unsupported(f"no {name} segment")
    if len(hits) > 1:
        raise Unsupported(f"more than one {name} segment")
    return hits[0]


def _after_exif(segments: dict[int, tuple[int, bytes]]) -> int:
    """Where a new XMP segment goes: after the EXIF (or JFIF) segment, as Adobe orders them."""
    at = 2
    for start, (marker, payload) in sorted(segments.items()):
        if marker == 0xE0 or (marker == 0xE1 and payload.startswith(EXIF_HEADER)):
            at = start + 2 + 2 + len(payload)
    return at


def _segment(payload: bytes) -> bytes:
    if len(payload) > MAX_SEGMENT:
        raise Unsupported("the segment would outgrow 64 KB")
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


def description(xmp: dict[str, Any], about: str | None = '""') -> bytes:
    """One rdf:Description holding these properties (text, or a list as an rdf:Seq); about
    None leaves the rdf:about attribute out, as the packet's other descriptions do."""
    used = sorted({key.split(".")[1] for key in xmp})
    if any(prefix not in NAMESPACES for prefix in used):
        raise Unsupported("an XMP namespace phototag does not write")
    names = "".join(f"\n    xmlns:{p}={quoteattr(NAMESPACES[p])}" for p in used)
    body = []
    for key, value in xmp.items():
        _, prefix, name = key.split(".", 2)
        if isinstance(value, list):
            items = "".join(f"<rdf:li>{escape(str(v))}</rdf:li>" for v in value)
            body.append(f"   <{prefix}:{name}><rdf:Seq>{items}</rdf:Seq></{prefix}:{name}>")
        elif isinstance(value, str):
            body.append(f"   <{prefix}:{name}>{escape(value)}</{prefix}:{name}>")
        else:
            raise Unsupported(f"{key} is neither text nor a list")
    subject = "" if about is None else f" rdf:about={about}"
    text = f'  <rdf:Description{subject}{names}>\n' + "\n".join(body) + "\n  </rdf:Description>\n"
    return text.encode("utf-8")


def add_to_packet(packet: bytes, xmp: dict[str, Any]) -> bytes:
    """The packet with one more rdf:Description before </rdf:RDF>, taken from its padding
    where that is long enough (the packet keeps its size), else grown."""
    if packet.count(b"</rdf:RDF>") != 1 or f'xmlns:rdf="{RDF}"'.encode() not in packet.replace(b"'", b'"'):
        raise Unsupported("an XMP packet written some other way")
    first = re.search(rb"<rdf:Description\b[^>]*>", packet)
    about = re.search(rb"rdf:about=(\"[^\"]*\"|'[^']*')", first.group(0)) if first else None
    # the same subject as the packet's other descriptions, or the XMP toolkit drops them all
    block = description(xmp, about.group(1).decode("utf-8", "replace") if about else None if first else '""')
    at = packet.index(b"</rdf:RDF>")
    packet = packet[:at] + block + packet[at:]
    end = packet.rfind(b"<?xpacket end")
    if end > 0:
        padding = len(packet[:end]) - len(packet[:end].rstrip(b" \t\r\n"))
        if padding > len(block) + 1:
            packet = packet[:end - len(block)] + packet[end:]
    return packet


def new_packet(xmp: dict[str, Any]) -> bytes:
    """A packet of phototag's own, for a file that had none."""
    return (b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
            b'<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
            + f' <rdf:RDF xmlns:rdf="{RDF}">\n'.encode() + description(xmp)
            + b" </rdf:RDF>\n</x:xmpmeta>\n" + b" " * 1024 + b'\n<?xpacket end="w"?>')
