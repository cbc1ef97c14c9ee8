"""What phototag writes, tag by tag: EXIF values, their XMP twins, and phototag's own namespace.

The namespace marks every written value as an estimate, so people and other tools can tell
it from a measured one:

    Xmp.phototag.Estimated              True
    Xmp.phototag.EstimatedTags          FNumber,FocalLength,FocalLengthIn35mmFilm (those written)
    Xmp.phototag.FNumberConfidence      0.83  (probability the truth is within one stop)
    Xmp.phototag.FocalLengthConfidence  0.61  (probability the truth is within 20%)
    Xmp.phototag.ModelVersion           the model that made the estimate
    Xmp.phototag.EstimatedAt            when it was written (UTC, ISO 8601)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction

NAMESPACE = "http://phototag.dev/ns/1.0/"
PREFIX = "phototag"

FNUMBER = "Exif.Photo.FNumber"
FOCAL_LENGTH = "Exif.Photo.FocalLength"
FOCAL_35MM = "Exif.Photo.FocalLengthIn35mmFilm"
XMP_TWINS = {FNUMBER: "Xmp.exif.FNumber", FOCAL_LENGTH: "Xmp.exif.FocalLength", FOCAL_35MM: "Xmp.exif.FocalLengthIn35mmFilm"}
EMPTY_PACKET = (
    b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b"</rdf:RDF></x:xmpmeta>\n"
    b'<?xpacket end="w"?>'
)

_REGISTERED = False


def register_namespace() -> None:
    """pyexiv2 writes Xmp.phototag.* only once the namespace is known (once per process)."""
    global _REGISTERED
    if not _REGISTERED:
        import pyexiv2

        from .metadata import quiet_exiv2

        quiet_exiv2()
        try:
            pyexiv2.registerNs(NAMESPACE, PREFIX)
        except Exception:  # already registered (e.g. read from a file): pyexiv2 raises a plain error
            pass
        _REGISTERED = True


@dataclass(frozen=True)
class Estimate:
    """The values chosen for writing; None means that value is not written."""

    fnumber: float | None
    focal_length: float | None
    focal_length_35mm: float | None
    fnumber_confidence: float | None
    focal_length_confidence: float | None
    model_version: str | None

    @property
    def empty(self) -> bool:
        return self.fnumber is None and self.focal_length is None


def rational(value: float, denominator: int = 10) -> str:
    """An EXIF rational in the 'n/d' form, the only one pyexiv2 writes correctly."""
    return f"{round(value * denominator)}/{denominator}"


def same_value(a: str | None, b: str | None) -> bool:
    """Tag values equal as numbers where both are numbers ('28/10' == '14/5'), else as text."""
    if a is None or b is None:
        return a is b
    try:
        return Fraction(str(a).strip()) == Fraction(str(b).strip())
    except (ValueError, ZeroDivisionError):
        return str(a) == str(b)


def exif_tags(est: Estimate) -> dict[str, str]:
    tags: dict[str, str] = {}
    if est.fnumber is not None:
        tags[FNUMBER] = rational(est.fnumber)
    if est.focal_length is not None:
        tags[FOCAL_LENGTH] = rational(est.focal_length)
        if est.focal_length_35mm is not None:
            tags[FOCAL_35MM] = str(round(est.focal_length_35mm))
    return tags


def xmp_tags(est: Estimate, when: str) -> dict[str, str]:
    """The XMP twins of the EXIF values, and phototag's marks."""
    exif = exif_tags(est)
    tags = {XMP_TWINS[key]: value for key, value in exif.items()}
    tags[f"Xmp.{PREFIX}.Estimated"] = "True"
    tags[f"Xmp.{PREFIX}.EstimatedTags"] = ",".join(key.rsplit(".", 1)[1] for key in exif)
    if est.fnumber is not None and est.fnumber_confidence is not None:
        tags[f"Xmp.{PREFIX}.FNumberConfidence"] = f"{est.fnumber_confidence:.2f}"
    if est.focal_length is not None and est.focal_length_confidence is not None:
        tags[f"Xmp.{PREFIX}.FocalLengthConfidence"] = f"{est.focal_length_confidence:.2f}"
    tags[f"Xmp.{PREFIX}.ModelVersion"] = est.model_version or "unknown"
    tags[f"Xmp.{PREFIX}.EstimatedAt"] = when
    return tags


def sidecar_path(photo: str) -> str:
    """The sidecar phototag writes: 'photo.jpg.xmp' (darktable and digiKam style)."""
    return photo + ".xmp"


def sidecar_candidates(photo: str) -> tuple[str, str]:
    """Both names other tools use, read when checking what a photo already says:
    'photo.jpg.xmp' (darktable, digiKam) and 'photo.xmp' (Lightroom, Capture One)."""
    return sidecar_path(photo), os.path.splitext(photo)[0] + ".xmp"
