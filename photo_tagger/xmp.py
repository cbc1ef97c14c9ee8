"""What phototag writes, tag by tag: EXIF values, their XMP twins, and phototag's own namespace.

The namespace marks every written value as an estimate, so people and other tools can tell
it from a measured one:

    Xmp.phototag.Estimated              True
    Xmp.phototag.EstimatedTags          FNumber,FocalLength,FocalLengthIn35mmFilm,LensModel,... (those
                                        written, and those an earlier write left in place)
    Xmp.phototag.FNumberConfidence      0.83  (probability the truth is within one stop)
    Xmp.phototag.FocalLengthConfidence  0.61  (probability the truth is within 20%)
    Xmp.phototag.LensConfidence         1.00  (probability the named lens took the photo)

The lens the user declared goes into the EXIF 2.3 lens tags (LensMake, LensModel,
LensSpecification), their exifEX twins (the CIPA "Exif 2.3 for XMP" namespace) and
aux:Lens, the name Lightroom and most XMP readers show.
    Xmp.phototag.ModelVersion           the model that made the estimate
    Xmp.phototag.EstimatedAt            when it was written (UTC, ISO 8601)
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

NAMESPACE = "http://phototag.dev/ns/1.0/"
PREFIX = "phototag"

FNUMBER = "Exif.Photo.FNumber"
FOCAL_LENGTH = "Exif.Photo.FocalLength"
FOCAL_35MM = "Exif.Photo.FocalLengthIn35mmFilm"
LENS_MODEL = "Exif.Photo.LensModel"  # EXIF 2.3 (0xA434), like LensMake (0xA433) and LensSpecification (0xA432)
LENS_MAKE = "Exif.Photo.LensMake"
LENS_SPEC = "Exif.Photo.LensSpecification"
LENS_TAGS = (LENS_MODEL, LENS_MAKE, LENS_SPEC)
AUX_LENS = "Xmp.aux.Lens"
# lens records editors (Lightroom, Camera Raw) keep in the aux namespace; phototag never writes them
AUX_LENS_RECORDS = ("Xmp.aux.LensInfo", "Xmp.aux.LensID")
XMP_TWINS = {
    FNUMBER: "Xmp.exif.FNumber", FOCAL_LENGTH: "Xmp.exif.FocalLength", FOCAL_35MM: "Xmp.exif.FocalLengthIn35mmFilm",
    LENS_MODEL: "Xmp.exifEX.LensModel", LENS_MAKE: "Xmp.exifEX.LensMake", LENS_SPEC: "Xmp.exifEX.LensSpecification",
}
ESTIMABLE = tuple(key.rsplit(".", 1)[1] for key in XMP_TWINS)  # the names EstimatedTags may list, in order
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


VALUE_FNUMBER, VALUE_FOCAL, VALUE_LENS = "FNumber", "focal length", "lens"  # the values a write can carry


@dataclass(frozen=True)
class Estimate:
    """The values chosen for writing; None means that value is not written."""

    fnumber: float | None
    focal_length: float | None
    focal_length_35mm: float | None
    fnumber_confidence: float | None
    focal_length_confidence: float | None
    model_version: str | None
    lens_make: str | None = None  # LensMake: None when the lens's maker is unknown
    lens_model: str | None = None  # LensModel, without the maker: None writes no lens tag
    # LensSpecification: min and max focal length, widest FNumber at each; None where unknown
    lens_spec: tuple[float, float, float | None, float | None] | None = None
    lens_confidence: float | None = None

    @property
    def empty(self) -> bool:
        return self.fnumber is None and self.focal_length is None and self.lens_model is None

    @property
    def values(self) -> tuple[str, ...]:
        """The names of the values it writes, as the write summary and the report count them."""
        named = ((VALUE_FNUMBER, self.fnumber), (VALUE_FOCAL, self.focal_length), (VALUE_LENS, self.lens_model))
        return tuple(name for name, value in named if value is not None)

    @property
    def lens_name(self) -> str | None:
        """The full name for aux:Lens: 'KMZ Helios-44 58mm 1:2'."""
        if self.lens_model is None or not self.lens_make:
            return self.lens_model
        if self.lens_model.casefold().startswith(self.lens_make.casefold()):
            return self.lens_model
        return f"{self.lens_make} {self.lens_model}"


def rational(value: float, denominator: int = 10) -> str:
    """An EXIF rational in the 'n/d' form, the only one pyexiv2 writes correctly."""
    return f"{round(value * denominator)}/{denominator}"


def spec_rational(value: float | None) -> str:
    """One LensSpecification part: '58/1', '7/5' for f/1.4; '0/0' where unknown (EXIF 2.3)."""
    if value is None:
        return "0/0"
    exact = Fraction(value).limit_denominator(100)
    return f"{exact.numerator}/{exact.denominator}"


_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?(/\d+)?")


def same_value(a: Any, b: Any) -> bool:
    """Tag values equal as numbers where both are numbers ('28/10' == '14/5'), element by
    element for number lists ('58/1 58/1 2/1 2/1' == ['580/10', '580/10', '20/10', '20/10']),
    else as text."""
    if a is None or b is None:
        return a is b
    parts_a, parts_b = _parts(a), _parts(b)
    if len(parts_a) == len(parts_b) == 1:
        return _same_number_or_text(parts_a[0], parts_b[0])
    if all(_NUMBER.fullmatch(p) for p in parts_a + parts_b):
        return len(parts_a) == len(parts_b) and all(map(_same_number_or_text, parts_a, parts_b))
    if isinstance(a, list) or isinstance(b, list):
        return parts_a == parts_b
    return str(a) == str(b)


def _parts(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v).strip() for v in value]
    return str(value).split() or [str(value)]


def _same_number_or_text(a: str, b: str) -> bool:
    try:
        return Fraction(a.strip()) == Fraction(b.strip())
    except (ValueError, ZeroDivisionError):  # '0/0' (unknown) equals only itself
        return a == b


def exif_tags(est: Estimate) -> dict[str, str]:
    tags: dict[str, str] = {}
    if est.fnumber is not None:
        tags[FNUMBER] = rational(est.fnumber)
    if est.focal_length is not None:
        tags[FOCAL_LENGTH] = rational(est.focal_length)
        if est.focal_length_35mm is not None:
            tags[FOCAL_35MM] = str(round(est.focal_length_35mm))
    if est.lens_model is not None:
        tags[LENS_MODEL] = est.lens_model
        if est.lens_make:
            tags[LENS_MAKE] = est.lens_make
        if est.lens_spec is not None:
            tags[LENS_SPEC] = " ".join(spec_rational(v) for v in est.lens_spec)
    return tags


def xmp_tags(est: Estimate, when: str, kept: Iterable[str] = ()) -> dict[str, Any]:
    """The XMP twins of the EXIF values, and phototag's marks. kept names estimates an
    earlier write left in place: they stay marked, or a rescan would take them for the camera's."""
    exif = exif_tags(est)
    tags: dict[str, Any] = {XMP_TWINS[key]: value for key, value in exif.items()}
    if LENS_SPEC in exif:  # a Seq of rationals in exifEX, not one text
        tags[XMP_TWINS[LENS_SPEC]] = exif[LENS_SPEC].split()
    if est.lens_name is not None:
        tags[AUX_LENS] = est.lens_name
    written = {key.rsplit(".", 1)[1] for key in exif} | set(kept)
    tags[f"Xmp.{PREFIX}.Estimated"] = "True"
    tags[f"Xmp.{PREFIX}.EstimatedTags"] = ",".join(name for name in ESTIMABLE if name in written)
    for value, confidence, name in ((est.fnumber, est.fnumber_confidence, "FNumberConfidence"),
                                    (est.focal_length, est.focal_length_confidence, "FocalLengthConfidence"),
                                    (est.lens_model, est.lens_confidence, "LensConfidence")):
        if value is not None and confidence is not None:
            tags[f"Xmp.{PREFIX}.{name}"] = f"{confidence:.2f}"
    tags[f"Xmp.{PREFIX}.ModelVersion"] = est.model_version or "unknown"
    tags[f"Xmp.{PREFIX}.EstimatedAt"] = when
    return tags


def shown(exif: dict[str, str]) -> dict[str, str]:
    """Tags as a dry run lists them: short names, ExifVersion as '0230' rather than its bytes."""
    found = {key.rsplit(".", 1)[1]: "(deleted)" if value is None else value for key, value in exif.items()}
    if "ExifVersion" in found:
        found["ExifVersion"] = "".join(chr(int(b)) for b in found["ExifVersion"].split())
    return found


def estimated_tags(xmp: dict[str, Any]) -> set[str]:
    """The tag names a file's (or sidecar's) phototag mark lists as estimates."""
    return {name for name in str(xmp.get(f"Xmp.{PREFIX}.EstimatedTags", "")).split(",") if name}


SIDECAR_FULL, SIDECAR_BASE = "full", "base"  # the two sidecar names, as --sidecar-name calls them


def sidecar_path(photo: str, form: str = SIDECAR_FULL) -> str:
    """A sidecar's name: 'photo.ARW.xmp' (full: darktable, digiKam) or 'photo.xmp'
    (base: Lightroom, Capture One)."""
    return os.path.splitext(photo)[0] + ".xmp" if form == SIDECAR_BASE else photo + ".xmp"


def sidecar_candidates(photo: str) -> tuple[str, str]:
    """Both names other tools use, read when checking what a photo already says:
    'photo.jpg.xmp' (darktable, digiKam) and 'photo.xmp' (Lightroom, Capture One)."""
    return sidecar_path(photo), sidecar_path(photo, SIDECAR_BASE)
