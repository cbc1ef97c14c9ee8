"""Read an XMP packet that the XMP Toolkit rejects, as far as XML allows.

GIMP and other tools write packets that repeat a property (exif:XResolution in two
descriptions); Adobe's toolkit, and so exiv2, then reads nothing at all from them. 47 of
1,145 real photos carry such a packet (bench/write_fidelity.py). phototag's own marks in
them must still be seen, or a later scan would take its written estimates for the camera's.
This reader keeps the first value of each property, text or a list of rdf:li items.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from .containers import xmp_packet
from .xmp import NAMESPACE, PREFIX

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
PREFIXES = {  # exiv2's prefixes for the namespaces phototag reads or compares
    "http://ns.adobe.com/exif/1.0/": "exif", "http://cipa.jp/exif/1.0/": "exifEX",
    "http://ns.adobe.com/exif/1.0/aux/": "aux", "http://ns.adobe.com/tiff/1.0/": "tiff",
    "http://purl.org/dc/elements/1.1/": "dc", "http://ns.adobe.com/xap/1.0/": "xmp",
    "http://ns.adobe.com/xap/1.0/mm/": "xmpMM", "http://ns.adobe.com/photoshop/1.0/": "photoshop",
    NAMESPACE: PREFIX,
}
_PACKET = re.compile(rb"<x:xmpmeta\b.*?</x:xmpmeta>|<rdf:RDF\b.*?</rdf:RDF>", re.S)  # some omit the wrapper


def properties(data: bytes, exiv2_xmp: dict[str, Any]) -> dict[str, Any]:
    """A file's XMP: what exiv2 read, unless the XMP Toolkit refused the packet or read
    nothing of one that XML can read (a packet without its x:xmpmeta wrapper)."""
    if rejected(data):
        return lenient_xmp(data)
    return exiv2_xmp or lenient_xmp(data)


def rejected(data: bytes) -> bool:
    """Whether data holds an XMP packet the XMP Toolkit refuses (its error 203): a property
    given twice across the descriptions, or descriptions of different subjects. Inside a
    photo exiv2 then reads nothing, or only part once more descriptions follow; it says so
    only at a log level phototag mutes, so the packet is checked here."""
    root = _root(data)
    if root is None:
        return False
    seen: set[str] = set()
    subjects = set()
    for desc in root.iter(f"{{{RDF}}}Description"):
        subjects.add(desc.get(f"{{{RDF}}}about"))
        names = [n for n in desc.attrib if n.startswith("{") and not n.startswith(f"{{{RDF}}}")]
        names += [child.tag for child in desc]
        if seen & set(names) or len(names) != len(set(names)):
            return True
        seen.update(names)
    return len(subjects) > 1


def _packet(data: bytes) -> bytes | None:
    """The packet a reader should see (containers.xmp_packet: a TIFF's is the one IFD0 points
    to, a JPEG's is in its XMP segment), from its x:xmpmeta or, lacking that, rdf:RDF."""
    packet = xmp_packet(data)
    found = _PACKET.search(packet) if packet else None
    return found.group(0) if found else None


def _root(data: bytes) -> ET.Element | None:
    packet = _packet(data)
    if not packet or b"<!DOCTYPE" in packet or b"<!ENTITY" in packet:
        return None
    try:
        return ET.fromstring(packet)
    except ET.ParseError:
        return None


def lenient_xmp(data: bytes) -> dict[str, Any]:
    """The first XMP packet in data, read leniently: {'Xmp.prefix.Name': text or [items]}.
    Empty when there is none or it is not even well-formed XML (or declares entities)."""
    root = _root(data)
    if root is None:
        return {}
    out: dict[str, Any] = {}
    for desc in root.iter(f"{{{RDF}}}Description"):
        for name, value in desc.attrib.items():
            if not name.startswith(f"{{{RDF}}}") and name.startswith("{"):
                out.setdefault(_key(name), value)
        for child in desc:
            out.setdefault(_key(child.tag), _value(child))
    return out


def _key(tag: str) -> str:
    uri, _, name = tag[1:].partition("}")
    return f"Xmp.{PREFIXES.get(uri, uri)}.{name}"


def _value(element: ET.Element) -> Any:
    items = [li.text or "" for li in element.iter(f"{{{RDF}}}li")]
    if items:
        return items
    return (element.text or "").strip()
