"""Read what a photo's EXIF says, with pyexiv2, into a frozen record.

pyexiv2 is not thread-safe, so this runs in worker processes, one file at a time.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .errors import MetadataError
from .xmplenient import properties
from .xmp import AUX_LENS, NAMESPACE, PREFIX, XMP_TWINS, estimated_tags, sidecar_candidates

log = logging.getLogger(__name__)

_QUIET = False
SOURCE_TYPE = "DigitalSourceType"  # IPTC Extension (Iptc4xmpExt): how the image came to be


def quiet_exiv2() -> None:
    """Keep exiv2's warnings off the console; phototag reports per-file errors itself. Also
    where BMFF (CR3, HEIC, AVIF) reading is turned on, in pyexiv2 before 2.14 (since then it
    is always on, and enableBMFF only warns that it is deprecated)."""
    global _QUIET
    if not _QUIET:
        import pyexiv2

        pyexiv2.set_log_level(4)  # 4 = mute
        if _version(pyexiv2.__version__) < (2, 14):
            pyexiv2.enableBMFF()
        _QUIET = True


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2] if part.isdigit())


def read_exif_text(image: Any) -> dict[str, str]:
    """An open pyexiv2 image's EXIF as text. Text tags should be ASCII, but old cameras and
    Windows tools wrote Latin-1 (an Artist of b'\\xa9 Jos\\xe9'): where UTF-8 fails, Latin-1,
    which decodes any byte, so one odd tag never hides a photo. Only reading decodes: a
    write leaves the tags it does not set as the bytes they were."""
    try:
        return dict(image.read_exif())
    except UnicodeDecodeError:
        return dict(image.read_exif(encoding="latin-1"))


@dataclass(frozen=True)
class PhotoMetadata:
    """The EXIF values phototag cares about; None means absent or unparsable."""

    make: str | None = None
    model: str | None = None
    fnumber: float | None = None
    focal_length: float | None = None
    focal_length_35mm: float | None = None
    exposure_time: float | None = None
    iso: float | None = None
    exposure_bias: float | None = None
    flash_fired: bool | None = None
    orientation: int | None = None
    pixel_width: int | None = None
    pixel_height: int | None = None
    focal_plane_x_res: float | None = None
    focal_plane_y_res: float | None = None
    focal_plane_unit: int | None = None
    lens_model: str | None = None
    date_taken: str | None = None  # DateTimeOriginal as written, "YYYY:MM:DD HH:MM:SS"
    exposure_program: int | None = None  # 1 manual, 2 program, 3 aperture priority, 4 shutter priority
    software: str | None = None  # what made the file: a generator or screenshot tool says it is no photo
    source_type: str | None = None  # IPTC DigitalSourceType (XMP), a NewsCodes URI (provenance.py)

    @property
    def has_lens_exif(self) -> bool:
        """Both lens values present and positive (Sony and Pentax write 0 for 'unknown')."""
        return bool(self.fnumber and self.fnumber > 0 and self.focal_length and self.focal_length > 0)


def parse_number(raw: str | None) -> float | None:
    """Parse an EXIF rational or number ('28/10', '0/0', '100', '100 100') or None."""
    if raw is None:
        return None
    text = str(raw).strip().split(" ")[0]
    if not text:
        return None
    try:
        value = float(Fraction(text)) if "/" in text else float(text)
    except (ValueError, ZeroDivisionError):
        return None
    return value if math.isfinite(value) else None


def _positive(raw: str | None) -> float | None:
    value = parse_number(raw)
    return value if value is not None and value > 0 else None


def _text(raw: str | None) -> str | None:
    if raw is None:
        return None
    text = str(raw).replace("\x00", "").strip()
    return text or None


def _int(raw: str | None) -> int | None:
    value = parse_number(raw)
    return int(value) if value is not None else None


def _first(exif: dict[str, str], *keys: str) -> str | None:
    for key in keys:
        if exif.get(key) not in (None, ""):
            return exif[key]
    return None


def from_exif(exif: dict[str, str]) -> PhotoMetadata:
    """Turn pyexiv2's tag dictionary into a PhotoMetadata."""
    flash = _int(exif.get("Exif.Photo.Flash"))
    return PhotoMetadata(
        make=_text(exif.get("Exif.Image.Make")),
        model=_text(exif.get("Exif.Image.Model")),
        fnumber=_positive(_first(exif, "Exif.Photo.FNumber", "Exif.Image.FNumber")),
        focal_length=_positive(_first(exif, "Exif.Photo.FocalLength", "Exif.Image.FocalLength")),
        focal_length_35mm=_positive(exif.get("Exif.Photo.FocalLengthIn35mmFilm")),
        exposure_time=_positive(_first(exif, "Exif.Photo.ExposureTime", "Exif.Image.ExposureTime")),
        iso=_positive(
            _first(
                exif,
                "Exif.Photo.ISOSpeedRatings",
                "Exif.Photo.PhotographicSensitivity",
                "Exif.Photo.RecommendedExposureIndex",
                "Exif.Photo.StandardOutputSensitivity",
            )
        ),
        exposure_bias=parse_number(exif.get("Exif.Photo.ExposureBiasValue")),
        flash_fired=None if flash is None else bool(flash & 1),
        orientation=_int(exif.get("Exif.Image.Orientation")),
        pixel_width=_int(exif.get("Exif.Photo.PixelXDimension")),
        pixel_height=_int(exif.get("Exif.Photo.PixelYDimension")),
        focal_plane_x_res=_positive(exif.get("Exif.Photo.FocalPlaneXResolution")),
        focal_plane_y_res=_positive(exif.get("Exif.Photo.FocalPlaneYResolution")),
        focal_plane_unit=_int(exif.get("Exif.Photo.FocalPlaneResolutionUnit")),
        lens_model=_text(exif.get("Exif.Photo.LensModel")),
        date_taken=_text(_first(exif, "Exif.Photo.DateTimeOriginal", "Exif.Image.DateTime")),
        exposure_program=_int(exif.get("Exif.Photo.ExposureProgram")),
        software=_text(exif.get("Exif.Image.Software")),
    )


def read_metadata(data: bytes) -> PhotoMetadata:
    """Read EXIF from a file's bytes (read once, shared with the decoder).

    Values phototag itself wrote (listed in its XMP mark) count as absent: they are
    estimates, not what the camera recorded, and must never become training labels.
    The XMP is parsed only where one of the two things read from it is in the bytes.
    """
    import pyexiv2

    quiet_exiv2()
    xmp: dict[str, Any] = {}
    try:
        with pyexiv2.ImageData(data) as image:
            exif = read_exif_text(image)
            if NAMESPACE.encode() in data or SOURCE_TYPE.encode() in data:
                xmp = properties(data, image.read_xmp())  # where the XMP Toolkit fails, leniently
            if NAMESPACE.encode() in data:
                estimated = str(xmp.get(f"Xmp.{PREFIX}.EstimatedTags", ""))
                exif = {k: v for k, v in exif.items() if k.rsplit(".", 1)[-1] not in estimated.split(",")}
    except (RuntimeError, UnicodeDecodeError, ValueError) as exc:
        if "unknown image type" in str(exc):
            raise MetadataError("it is not an image file (its content matches no image format)") from exc
        raise MetadataError(f"its metadata could not be read ({_first_line(exc)})") from exc
    source = xmp.get(f"Xmp.iptcExt.{SOURCE_TYPE}")
    return dataclasses.replace(from_exif(exif), source_type=_text(source if isinstance(source, str) else None))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


SIDECAR_READ_LIMIT = 16 * 1024 * 1024  # an XMP sidecar is kilobytes; a bigger .xmp is not one


def with_sidecars(meta: PhotoMetadata, photo: str) -> PhotoMetadata:
    """meta with what the photo's XMP sidecars record (photo.ext.xmp from darktable and
    digiKam, photo.xmp from Lightroom and Capture One) where the file itself is silent: a
    FNumber the user set in Lightroom is the photo's own, never a thing to estimate. Values
    phototag wrote there (its EstimatedTags mark) do not count; an unreadable sidecar is
    passed over here (the write reads it again and refuses to contradict what it cannot read)."""
    for candidate in sidecar_candidates(photo):
        own = _sidecar_values(_sidecar_xmp(candidate))
        lens = own.get("LensModel")
        meta = dataclasses.replace(
            meta,
            fnumber=meta.fnumber or _positive(own.get("FNumber")),
            focal_length=meta.focal_length or _positive(own.get("FocalLength")),
            lens_model=meta.lens_model or _text(lens if isinstance(lens, str) else None),
        )
    return meta


def _sidecar_values(xmp: dict[str, Any]) -> dict[str, Any]:
    """A sidecar's lens values by EXIF name (aux:Lens standing in for LensModel), less those
    phototag wrote there."""
    ours = estimated_tags(xmp)
    found = {name: xmp.get(XMP_TWINS[f"Exif.Photo.{name}"])
             for name in ("FNumber", "FocalLength", "LensModel") if name not in ours}
    if "LensModel" not in ours and not found.get("LensModel"):
        found["LensModel"] = xmp.get(AUX_LENS)
    return found


def _sidecar_xmp(path: str) -> dict[str, Any]:
    """A sidecar's XMP; {} where there is none or it cannot be read."""
    import pyexiv2

    quiet_exiv2()
    try:
        if not os.path.isfile(path) or os.path.getsize(path) > SIDECAR_READ_LIMIT:
            return {}
        with open(path, "rb") as handle, pyexiv2.ImageData(handle.read()) as image:
            return dict(image.read_xmp())
    except (OSError, RuntimeError, UnicodeDecodeError, ValueError):
        return {}
