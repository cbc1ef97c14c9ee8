"""Draw `phototag show`'s records as plain text, readable at 80 columns.

Lines never wrap mid-path (soft wrap), so a path or command can be copied whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from rich.console import Console
from rich.markup import escape

from .camera import body_name
from .show import Distribution, Missing, PhotoView, WriteEntry
from .xmp import FNUMBER, FOCAL_35MM, FOCAL_LENGTH, LENS_MODEL, XMP_TWINS

BAR_WIDTH = 30
WRITTEN_TAGS = ((FNUMBER, "FNumber f/{}"), (FOCAL_LENGTH, "focal length {} mm"),
                (FOCAL_35MM, "35 mm {} mm"), (LENS_MODEL, "lens {}"))
LENS_SOURCES = {"scan": "declared with scan --lens", "exif": "named by the photo's LensModel",
                "rule": "placed by a lens rule"}


def render(records: Sequence[PhotoView | Missing], console: Console) -> None:
    """Each record in turn, a blank line between photos."""
    for i, record in enumerate(records):
        if i:
            console.print()
        if isinstance(record, Missing):
            _line(console, f"{record.path}: {record.reason}")
        else:
            _photo(console, record)


def _line(console: Console, text: str, style: str | None = None) -> None:
    console.print(escape(text), style=style, soft_wrap=True, highlight=False)


def _field(console: Console, name: str, text: str) -> None:
    _line(console, f"  {name:<11} {text}")


def _photo(console: Console, view: PhotoView) -> None:
    row = view.row
    _line(console, view.path, "bold")
    _field(console, "status", status_text(row))
    _field(console, "body", _body(row))
    _field(console, "EXIF", _exif(row))
    if row["fnumber"] is not None or row["focal_length_35mm"] is not None:
        _field(console, "estimate", _fnumber_estimate(row))
        _field(console, "", _focal_estimate(row))
        _rests_on(console, row)
    _lens(console, view)
    if view.distribution is not None:
        _distribution(console, view.distribution, row)
    elif view.distribution_note:
        _field(console, "FNumber", f"no distribution kept: {view.distribution_note}")
    _writes(console, view)


def status_text(row: dict[str, Any]) -> str:
    status = row["status"]
    if status == "has_exif":
        checked = "; estimated too, to check the model (scan --all)" if row["fnumber"] is not None else ""
        return f"has lens EXIF, kept as it is{checked}"
    if status == "predicted":
        extra = f" (not a camera photo: {row['not_photo']}; estimated as asked)" if row.get("not_photo") else ""
        return f"predicted by model {row['model_version']}, run {row['run_id']}, {when(row['scanned_at'])}{extra}"
    if status == "not_photo":
        return f"not a camera photo: {row['not_photo']} (never estimated or written)"
    return f"{status}: {row['error'] or 'no reason recorded'}"


def _body(row: dict[str, Any]) -> str:
    text = body_name(row["camera_make"], row["camera_model"])
    if row["crop_factor"]:
        text += f", crop factor {row['crop_factor']:g} ({row['crop_factor_source'] or 'source unknown'})"
    else:
        text += ", crop factor unknown"
    return text


def _num(value: float | None, fmt: str = "{:g}") -> str:
    return "-" if value is None else fmt.format(value)


def _exposure(seconds: float | None) -> str:
    if not seconds:
        return "-"
    return f"1/{round(1 / seconds):g} s" if seconds < 0.5 else f"{seconds:g} s"


def _exif(row: dict[str, Any]) -> str:
    text = (f"FNumber {_num(row['exif_fnumber'], 'f/{:g}')}, focal length {_num(row['exif_focal_length'], '{:g} mm')}, "
            f"35 mm {_num(row['exif_focal_length_35mm'], '{:g} mm')}, exposure {_exposure(row['exif_exposure_time'])}, "
            f"ISO {_num(row['exif_iso'])}")
    return text + (f", lens {row['lens_model']}" if row.get("lens_model") else "")


def _fnumber_estimate(row: dict[str, Any]) -> str:
    return f"FNumber {_num(row['fnumber'], 'f/{:g}')}, confidence {_num(row['fnumber_confidence'], '{:.2f}')}"


def _focal_estimate(row: dict[str, Any]) -> str:
    focal = (f"focal length {_num(row['focal_length'], '{:g} mm')} real, "
             f"{_num(row['focal_length_35mm'], '{:g} mm')} in 35 mm, "
             f"confidence {_num(row['focal_length_confidence'], '{:.2f}')}")
    return focal + (" (the lens's own)" if row.get("focal_length_source") == "lens" else "")


def _rests_on(console: Console, row: dict[str, Any]) -> None:
    source = row.get("fnumber_source") or "model"
    _field(console, "rests on", source)
    if source != "model" and row.get("model_fnumber") is not None:
        _field(console, "", f"the model alone said f/{row['model_fnumber']:g}, "
                            f"confidence {_num(row['model_fnumber_confidence'], '{:.2f}')}")


def _lens(console: Console, view: PhotoView) -> None:
    row = view.row
    if not row.get("lens_name"):
        _field(console, "lens", "none declared (`phototag lens assign` or scan --lens set one)")
        return
    text = f"{row['lens_name']}, {LENS_SOURCES.get(row['lens_source'], row['lens_source'] or 'source unknown')}"
    if row.get("lens_confidence") is not None and row["lens_confidence"] < 1:
        text += f" (picked among candidates, confidence {row['lens_confidence']:.2f})"
    _field(console, "lens", text)
    for rule in view.rules:
        _field(console, "", f"rule {rule.id}: {rule.describe() or 'every photo'}")
    if row.get("lens_source") == "rule" and not view.rules:
        _field(console, "", "no rule matches it any more: `phototag scan` redoes it")


def _distribution(console: Console, dist: Distribution, row: dict[str, Any]) -> None:
    steps = (["the lens's stops"] if row.get("lens_name") else []) + (
        [] if (row.get("fnumber_source") or "model") == "model" else ["the library's evidence"])
    before = f", before {' and '.join(steps)}" if steps else ""
    _line(console, f"  FNumber distribution per full stop, the model's own{before}")
    _line(console, f"  (bins from {dist.bins_from}):")
    top = max((g.probability for g in dist.groups), default=0.0) or 1.0
    for group in dist.groups:
        cells = round(group.probability / top * BAR_WIDTH)
        bar = "█" * cells or ("▏" if group.probability > 0.0005 else "")
        mark = "  ◀ estimate" if group.holds_estimate else ""
        _line(console, f"    {group.label:>6} {bar:<{BAR_WIDTH}} {group.probability * 100:5.1f}%{mark}")


def _writes(console: Console, view: PhotoView) -> None:
    row = view.row
    if not view.writes:
        _field(console, "written", _not_written(row))
        return
    for write in view.writes:
        head, values = _write_text(write)
        _field(console, "written" if write is view.writes[0] else "", head)
        _field(console, "", values)
    commands = view.undo_commands()
    if commands:
        _field(console, "undo", " or ".join(f"`{c}`" for c in commands))
    else:
        note = row.get("write_note")
        _field(console, "now", "nothing written is in effect" + (f" ({note})" if note else ""))


def _not_written(row: dict[str, Any]) -> str:
    if row.get("write_note"):
        return f"no: {row['write_note']}"
    return {"predicted": "not yet: `phototag write` writes it",
            "has_exif": "no: only estimates for photos lacking lens EXIF are written",
            "not_photo": "no: images that are no camera photos are never written"}.get(
        row["status"], "no: nothing was estimated")


def _write_text(write: WriteEntry) -> list[str]:
    where = "into the file" if write.method == "exif" else f"into the sidecar {write.target}"
    head = f"{where}, run {write.run_id}, {when(write.written_at)}"
    if write.undone_at:
        head += f"; undone {when(write.undone_at)}"
    elif not write.in_effect:
        head += f" ({write.state}: the next phototag command settles it)"
    return [head, ", ".join(_written_values(write.tags)) or "no values"]


def when(stamp: str | None) -> str:
    """'2024-05-01T10:00:00+00:00' -> '2024-05-01 10:00 UTC' (as stored if unreadable)."""
    try:
        moment = datetime.fromisoformat(stamp or "")
    except ValueError:
        return stamp or "-"
    return f"{moment:%Y-%m-%d %H:%M}" + (" UTC" if moment.utcoffset() == timedelta(0) else "")


def _written_values(tags: dict[str, Any]) -> list[str]:
    exif, xmp = tags.get("exif", {}), tags.get("xmp", {})
    found = []
    for key, fmt in WRITTEN_TAGS:
        value = exif.get(key) if exif.get(key) is not None else xmp.get(XMP_TWINS.get(key, ""))
        if value is not None:
            found.append(fmt.format(_plain(value)))
    return found


def _plain(value: Any) -> str:
    """'28/10' -> '2.8': rationals as people read them."""
    try:
        return f"{float(Fraction(str(value))):g}"
    except (ValueError, ZeroDivisionError):
        return str(value)
