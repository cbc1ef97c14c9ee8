"""Write the database's rows out as JSON lines or CSV, streamed."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from .camera import body_name
from .journal import real_path
from .lenses import LensRule
from .metadata import PhotoMetadata

EXPORT_FIELDS = (
    "path", "status", "error", "camera", "camera_make", "camera_model", "crop_factor",
    "crop_factor_source", "exif_fnumber", "exif_focal_length", "exif_exposure_time",
    "exif_iso", "fnumber", "fnumber_confidence", "fnumber_source", "focal_length", "focal_length_35mm",
    "focal_length_confidence", "lens", "lens_rule", "model_version", "written", "not_photo", "shot_of",
)
FORMATS = ("jsonl", "csv")
# How a lens came to a photo, for the lens_rule column, where no rule placed it.
_LENS_SOURCES = {"scan": "scan --lens", "exif": "LensModel in EXIF"}


def export_rows(rows: Iterable[dict[str, Any]], out: TextIO, fmt: str, rules: Sequence[LensRule] = ()) -> int:
    """Write one row per photo; returns how many were written. rules: the lens rules now
    in force, to say which one placed each photo on its lens."""
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow(exported(row, rules))
            count += 1
    elif fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(exported(row, rules), ensure_ascii=False) + "\n")
            count += 1
    else:
        raise ValueError(f"unknown export format {fmt!r}")
    return count


def exported(row: dict[str, Any], rules: Sequence[LensRule] = ()) -> dict[str, Any]:
    """One photo's row as exported: the body named once ('Canon EOS 7D', not 'Canon Canon
    EOS 7D'), the lens applied to it and what placed it there."""
    named = {
        "camera": body_name(row.get("camera_make"), row.get("camera_model")) if row.get("camera_model") else None,
        "lens": row.get("lens_name"),
        "lens_rule": lens_rule(row, rules),
    }
    return {k: named[k] if k in named else row.get(k) for k in EXPORT_FIELDS}


def lens_rule(row: dict[str, Any], rules: Sequence[LensRule]) -> str | None:
    """'rule 3: folder /photos/film' for a photo a rule placed on its lens; 'scan --lens' or
    'LensModel in EXIF' otherwise. The rules are today's: one changed since the scan that
    no longer matches leaves a word to scan again."""
    lens, source = row.get("lens_name"), row.get("lens_source")
    if not lens:
        return None
    if source != "rule":
        return _LENS_SOURCES.get(source or "", source)
    meta = PhotoMetadata(make=row.get("camera_make"), model=row.get("camera_model"), date_taken=row.get("taken_at"))
    placing = [r for r in rules if r.lens_name == lens and r.matches(real_path(row), meta)]
    if not placing:
        return "a rule changed since the scan: scan again"
    return "; ".join(f"rule {r.id}: {r.describe()}" for r in placing)
