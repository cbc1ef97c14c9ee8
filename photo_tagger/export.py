"""Write the database's rows out as JSON lines or CSV, streamed."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import Any, TextIO

EXPORT_FIELDS = (
    "path", "status", "error", "camera_make", "camera_model", "crop_factor",
    "crop_factor_source", "exif_fnumber", "exif_focal_length", "exif_exposure_time",
    "exif_iso", "fnumber", "fnumber_confidence", "fnumber_source", "focal_length", "focal_length_35mm",
    "focal_length_confidence", "model_version", "written", "not_photo",
)
FORMATS = ("jsonl", "csv")


def export_rows(rows: Iterable[dict[str, Any]], out: TextIO, fmt: str) -> int:
    """Write one row per photo; returns how many were written."""
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: row.get(k) for k in EXPORT_FIELDS})
            count += 1
    elif fmt == "jsonl":
        for row in rows:
            out.write(json.dumps({k: row.get(k) for k in EXPORT_FIELDS}, ensure_ascii=False) + "\n")
            count += 1
    else:
        raise ValueError(f"unknown export format {fmt!r}")
    return count
