"""The record that flows from the pipeline into the database, one per file."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

STATUSES = ("has_exif", "predicted", "error", "unsupported", "not_photo")


@dataclass(frozen=True)
class PhotoRecord:
    """Everything phototag knows about one file after a scan."""

    path: str
    status: str
    size: int
    mtime_ns: int
    error: str | None = None
    path_bytes: bytes | None = None
    # sha256 of the whole file as the scan read it, so `write` notices a change that kept
    # the size and mtime; None where the scan read only the head (or failed to read it)
    content_hash: str | None = None
    camera_make: str | None = None
    camera_model: str | None = None
    lens_model: str | None = None
    crop_factor: float | None = None
    crop_factor_source: str | None = None
    width: int | None = None
    height: int | None = None
    orientation: int | None = None
    exif_fnumber: float | None = None
    exif_focal_length: float | None = None
    exif_focal_length_35mm: float | None = None
    exif_exposure_time: float | None = None
    exif_iso: float | None = None
    exif_exposure_bias: float | None = None
    exif_flash_fired: int | None = None
    exif_exposure_program: int | None = None
    taken_at: str | None = None  # DateTimeOriginal, "YYYY-MM-DDTHH:MM:SS" (the body's clock)
    fnumber: float | None = None
    fnumber_confidence: float | None = None
    focal_length: float | None = None
    focal_length_35mm: float | None = None
    focal_length_confidence: float | None = None
    ev100: float | None = None
    # the model's own FNumber distribution over its bins (float32), kept so a later scan can
    # weigh it with what the library's labeled photos say (library.py) without the pixels
    model_fnumber_probs: bytes | None = None
    model_fnumber: float | None = None  # the model's own estimate, before the library's evidence
    model_fnumber_confidence: float | None = None
    fnumber_source: str | None = None  # the evidence behind fnumber: "model", or it and the library's
    focal_length_source: str | None = None  # exif, model, or lens (a prime's focal length)
    lens_name: str | None = None  # the known lens this photo was taken with (see lenses.py)
    lens_source: str | None = None  # scan (--lens), exif (LensModel), or rule
    lens_confidence: float | None = None  # posterior when several lenses were candidates
    lens_setup: str | None = None  # fingerprint of the lens facts used, to redo on change
    # why the file is no camera photo (provenance.py), whatever its status: 'not_photo', or
    # estimated anyway because the user asked (scan --include-non-photos)
    not_photo: str | None = None
    model_version: str | None = None
    provider: str | None = None
    run_id: int | None = None
    scanned_at: str | None = None

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


COLUMNS = tuple(f.name for f in fields(PhotoRecord))
