"""What may be written into one photo: the stored values chosen, less what the file records.

Values the camera or the user recorded are never overwritten; values phototag wrote
itself (listed in its Xmp.phototag.EstimatedTags mark) count as absent. The lens is judged
as one group (name, maker, specification): a file that names any lens of its own keeps it
whole, so phototag never mixes its lens with the camera's.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from .lenses import Lens
from .metadata import parse_number
from .xmp import (
    FOCAL_35MM,
    AUX_LENS,
    AUX_LENS_RECORDS,
    FNUMBER,
    FOCAL_LENGTH,
    LENS_TAGS,
    PREFIX,
    VALUE_FNUMBER,
    VALUE_FOCAL,
    XMP_TWINS,
    Estimate,
    estimated_tags,
    exif_tags,
    same_value,
)

ALREADY = "already written"
EXIF_VERSION = "Exif.Photo.ExifVersion"
LENS_EXIF_VERSION = "0230"  # EXIF 2.3 introduced LensMake, LensModel and LensSpecification
FOCAL_35MM_EXIF_VERSION = "0220"  # and EXIF 2.2 FocalLengthIn35mmFilm


def value_reasons(row: dict[str, Any], min_confidence: float) -> dict[str, str]:
    """Per estimated value, why it may not be written ('' where it may): each needs its own
    confidence, and a focal length in real millimetres needs the body's crop factor."""
    below = f"confidence below {min_confidence:g}"

    def reason(value: Any, confidence: Any) -> str:
        if value is None:
            return "no estimate"
        return below if (confidence or 0.0) < min_confidence else ""

    focal = reason(row["focal_length_35mm"], row["focal_length_confidence"])
    if not focal and row["focal_length"] is None:
        focal = "crop factor unknown"
    return {VALUE_FNUMBER: reason(row["fnumber"], row["fnumber_confidence"]), VALUE_FOCAL: focal}


def choose(row: dict[str, Any], min_confidence: float, lenses: Mapping[str, Lens] | None = None) -> tuple[Estimate | None, str]:
    """Which stored values may be written; FNumber, focal length and lens are judged separately."""
    if row["status"] != "predicted":
        return None, "not an estimate"
    reasons = value_reasons(row, min_confidence)
    f_ok, l_ok = not reasons[VALUE_FNUMBER], not reasons[VALUE_FOCAL]
    lens = lens_to_write(row, min_confidence, lenses or {})
    if not f_ok and not l_ok and lens is None:
        if len(set(reasons.values())) == 1:
            return None, reasons[VALUE_FNUMBER]
        return None, "; ".join(f"{name}: {why}" for name, why in reasons.items())
    est = Estimate(
        fnumber=row["fnumber"] if f_ok else None,
        focal_length=row["focal_length"] if l_ok else None,
        focal_length_35mm=row["focal_length_35mm"] if l_ok else None,
        fnumber_confidence=row["fnumber_confidence"],
        focal_length_confidence=row["focal_length_confidence"],
        model_version=row["model_version"],
    )
    return (add_lens(est, lens, row["lens_confidence"]) if lens else est), ""


def lens_to_write(row: dict[str, Any], min_confidence: float, lenses: Mapping[str, Lens]) -> Lens | None:
    """The known lens to name in the file: declared by the user (scan --lens or a rule), the
    one picked with at least min_confidence, and still in the lens book. A lens recognised
    from the photo's own LensModel is the camera's to name, not phototag's."""
    if not row.get("lens_name") or row.get("lens_source") in (None, "exif"):
        return None
    if (row.get("lens_confidence") or 0.0) < min_confidence:
        return None
    return lenses.get(row["lens_name"])


def add_lens(est: Estimate, lens: Lens, confidence: float | None) -> Estimate:
    """est naming lens: LensModel without the maker (as cameras write it), LensMake apart;
    a zoom's widest FNumber at its long end is not in the lens book, so it stays unknown."""
    model = lens.name
    if lens.maker and model.casefold().startswith(lens.maker.casefold() + " "):
        model = model[len(lens.maker):].strip()
    widest_long = lens.aperture_min if lens.is_prime else None
    return dataclasses.replace(
        est, lens_make=lens.maker or None, lens_model=model, lens_confidence=confidence,
        lens_spec=(lens.focal_min, lens.focal_max, lens.aperture_min, widest_long),
    )


def carries(est: Estimate, exif: dict[str, str], xmp: dict[str, Any]) -> bool:
    """The file (or sidecar) already holds exactly these estimates from this model, so
    writing again would change nothing: a rescan, or two scans racing, must not rewrite it."""
    want = exif_tags(est)
    return (
        bool(want)
        and xmp.get(f"Xmp.{PREFIX}.ModelVersion") == est.model_version
        and all(same_value(exif.get(key) or xmp.get(XMP_TWINS[key]), value) for key, value in want.items())
    )


def still_to_write(est: Estimate, exif: dict[str, str], xmp: dict[str, Any], sidecar: bool,
                   target_xmp: dict[str, Any] | None = None) -> Estimate | str:
    """The estimates left to write, or why none: ALREADY when the target holds exactly
    these (a sidecar is judged by its XMP alone), a reason when the file records its own.
    target_xmp: the XMP of the file written (a sidecar's own), where it differs from xmp."""
    est = without_present(est, exif, xmp)  # first: a lens the file names itself is not a difference
    target = xmp if target_xmp is None else target_xmp
    if carries(est, {} if sidecar else exif, xmp) and not any(stale_lens(est, {} if sidecar else exif, target)):
        return ALREADY
    where = "the file or its sidecar" if sidecar else "the file"
    return f"{where} already records its lens values" if est.empty else est


def without_present(est: Estimate, exif: dict[str, str], xmp: dict[str, Any]) -> Estimate:
    """Drop a value the file already records (present and nonzero), unless phototag wrote it."""
    ours = estimated_tags(xmp)
    present = {
        key for key in (FNUMBER, FOCAL_LENGTH)
        if key.rsplit(".", 1)[1] not in ours and (_nonzero(exif.get(key)) or _recorded(xmp.get(XMP_TWINS[key])))
    }
    fnumber = None if FNUMBER in present else est.fnumber
    focal = None if FOCAL_LENGTH in present else est.focal_length
    est = dataclasses.replace(est, fnumber=fnumber, focal_length=focal,
                              focal_length_35mm=est.focal_length_35mm if focal is not None else None)
    if lens_recorded(exif, xmp):
        est = dataclasses.replace(est, lens_make=None, lens_model=None, lens_spec=None, lens_confidence=None)
    return est


def lens_recorded(exif: dict[str, str], xmp: dict[str, Any]) -> bool:
    """Whether the file names or describes a lens of its own: any lens tag, EXIF or XMP,
    holding a real value that phototag did not write."""
    ours = estimated_tags(xmp)
    for key in LENS_TAGS:
        if key.rsplit(".", 1)[1] in ours:
            continue
        if _meaningful(exif.get(key)) or _meaningful(xmp.get(XMP_TWINS[key])):
            return True
    if any(_meaningful(xmp.get(key)) for key in AUX_LENS_RECORDS):
        return True
    return "LensModel" not in ours and _meaningful(xmp.get(AUX_LENS))


def _meaningful(value: Any) -> bool:
    """A value that says something: not empty, not '----', not a LensSpecification of zeros
    or '0/0' (cameras write those for 'no lens information')."""
    if value is None:
        return False
    parts = value if isinstance(value, list) else str(value).replace("\x00", " ").split()
    return any(_says_something(str(p)) for p in parts)


def _says_something(part: str) -> bool:
    """A number above zero; else any letter, of any script ('Юпитер-9'), or a digit other
    than 0 ('28-70'): only zeros and punctuation ('----', '0/0', '0.0') say nothing."""
    if parse_number(part) is not None:
        return _nonzero(part)
    return any(ch.isalpha() or ch in "123456789" for ch in part)


def _recorded(value: Any) -> bool:
    """An XMP value that is a positive number, or text that is not a number at all: a tool's
    own wording of the value ('f/2,0', as GIMP copies EXIF into XMP) still records one, and
    phototag must not write a second beside it."""
    if not isinstance(value, str) or not value.strip():
        return False
    if re.fullmatch(r"\s*[\d.]+(/[\d.]+)?\s*", value):  # a number: 0 and 0/0 count as missing
        return _nonzero(value)
    return True


def _nonzero(value: Any) -> bool:
    number = parse_number(value) if isinstance(value, str) else None
    return bool(number and number > 0)


def kept_marks(exif: dict[str, str], xmp: dict[str, Any], written: dict[str, str]) -> tuple[str, ...]:
    """Estimates an earlier write left in the target that this write does not replace
    (say, a lens written before, no longer confident enough to rewrite): still phototag's.
    A lens written now replaces the earlier one whole: its tags are rewritten or deleted."""
    kept = []
    lens_now = any(key in written for key in LENS_TAGS)
    for name in estimated_tags(xmp):
        key = f"Exif.Photo.{name}"
        if lens_now and key in LENS_TAGS:
            continue
        if key in XMP_TWINS and key not in written and (key in exif or XMP_TWINS[key] in xmp):
            kept.append(name)
    return tuple(kept)


def stale_lens(est: Estimate, exif: dict[str, str], xmp: dict[str, Any]) -> tuple[dict[str, None], dict[str, None]]:
    """When est names a lens, the lens tags an earlier write of phototag's left in the target
    that this one does not write (a maker the new lens lacks), EXIF and XMP, to delete: the
    file must never give one lens's maker with another's name."""
    if est.lens_model is None:
        return {}, {}
    ours = estimated_tags(xmp)
    written = exif_tags(est)
    old = [key for key in LENS_TAGS if key not in written and key.rsplit(".", 1)[1] in ours]
    return ({key: None for key in old if key in exif},
            {XMP_TWINS[key]: None for key in old if XMP_TWINS[key] in xmp})


def exif_version_update(exif: dict[str, str], written: dict[str, str]) -> dict[str, str]:
    """ExifVersion raised to 0230 when EXIF 2.3 lens tags go into a file that declares an
    older version, so strict readers (and `exiftool -validate`) accept them. A file that
    declares none is left as it is: phototag does not vouch for the rest of its EXIF."""
    if not any(key in written for key in LENS_TAGS):
        return {}
    version = exif_version(exif.get(EXIF_VERSION))
    if version is None or version >= LENS_EXIF_VERSION:
        return {}
    return {EXIF_VERSION: " ".join(str(ord(c)) for c in LENS_EXIF_VERSION)}


def within_version(exif: dict[str, str], want: dict[str, Any]) -> dict[str, Any]:
    """want without FocalLengthIn35mmFilm where the file declares an EXIF version before 2.2
    and nothing raises it: a strict reader (`exiftool -validate`) rejects the tag there. The
    value still goes into XMP. The version is raised only for a lens the user declared."""
    version = exif_version(want.get(EXIF_VERSION) or exif.get(EXIF_VERSION))
    if FOCAL_35MM in want and version is not None and version < FOCAL_35MM_EXIF_VERSION:
        return {key: value for key, value in want.items() if key != FOCAL_35MM}
    return want


def exif_version(raw: str | None) -> str | None:
    """pyexiv2's '48 50 50 48' (the four ASCII bytes) as '0220'; None when absent or odd."""
    try:
        text = bytes(int(part) for part in str(raw).split()).decode("ascii") if raw else ""
    except (ValueError, UnicodeDecodeError):
        return None
    return text if re.fullmatch(r"\d{4}", text) else None
