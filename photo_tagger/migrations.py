"""The database's schema, one migration a step: a database records how many it has had, and
opening it applies the rest in order. Never edit a migration that has shipped; add one."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlite_utils


def _m1_initial(db: sqlite_utils.Database) -> None:
    """The first schema. Frozen: later columns come in later migrations, never here."""
    db["photos"].create(
        {
            "path": str, "status": str, "size": int, "mtime_ns": int, "error": str, "path_bytes": bytes,
            "camera_make": str, "camera_model": str, "lens_model": str,
            "crop_factor": float, "crop_factor_source": str, "width": int, "height": int, "orientation": int,
            "exif_fnumber": float, "exif_focal_length": float, "exif_focal_length_35mm": float,
            "exif_exposure_time": float, "exif_iso": float, "exif_exposure_bias": float, "exif_flash_fired": int,
            "fnumber": float, "fnumber_confidence": float, "focal_length": float, "focal_length_35mm": float,
            "focal_length_confidence": float, "ev100": float, "model_version": str, "provider": str,
            "run_id": int, "scanned_at": str, "written": int,
        },
        pk="path",
        not_null={"status", "size", "mtime_ns", "written"},
        defaults={"written": 0},
    )
    db["photos"].create_index(["status"])
    db["runs"].create(
        {
            "id": int, "command": str, "started_at": str, "finished_at": str,
            "model_version": str, "model_path": str, "provider": str, "summary": str,
        },
        pk="id",
    )


def _m2_writes(db: sqlite_utils.Database) -> None:
    """What `write` put into files and what it replaced, so `undo` can put it back."""
    db["writes"].create(
        {
            "id": int, "run_id": int, "path": str, "path_bytes": bytes, "target": bytes,
            "written_at": str, "method": str, "state": str,
            "tags_before": str, "tags_after": str, "hash_before": str, "hash_after": str,
            "mtime_before": int, "size_before": int, "mtime_after": int, "size_after": int,
            "undo_kind": str, "undo_blob": bytes, "undone_at": str,
        },
        pk="id",
        not_null={"path", "method", "state", "hash_after"},
    )
    db["writes"].create_index(["path"])
    db["writes"].create_index(["run_id"])
    db["photos"].add_column("write_note", str)


def _m3_lenses(db: sqlite_utils.Database) -> None:
    """Known lenses, the rules that assign them to photos, and users' crop factors (lenses.py)."""
    db["lenses"].create(
        {"name": str, "maker": str, "focal_min": float, "focal_max": float, "aperture_min": float,
         "aperture_max": float, "stops": str, "mount": str, "source": str, "added_at": str},
        pk="name", not_null={"focal_min", "focal_max", "source"},
    )
    db["lens_rules"].create(
        {"id": int, "lens_name": str, "folder": str, "camera": str, "date_from": str, "date_to": str, "added_at": str},
        pk="id", not_null={"lens_name"},
    )
    db["cameras"].create({"model": str, "crop_factor": float, "added_at": str}, pk="model", not_null={"crop_factor"})
    for name, kind in {"focal_length_source": str, "lens_name": str, "lens_source": str,
                       "lens_confidence": float, "lens_setup": str}.items():
        db["photos"].add_column(name, kind)


def _m4_chipped_lenses(db: sqlite_utils.Database) -> None:
    """Whether a lens sits on an adapter whose chip writes lens EXIF (lenses.Lens.chipped)."""
    db["lenses"].add_column("chipped", int, not_null_default=0)


def _m5_library_evidence(db: sqlite_utils.Database) -> None:
    """When and how each photo was exposed, and the model's own FNumber distribution, so a
    scan can weigh it with the library's labeled photos (library.py). Photos scanned before
    this carry none until they are scanned again (--force)."""
    for name, kind in {"exif_exposure_program": int, "taken_at": str, "model_fnumber_probs": bytes,
                       "model_fnumber": float, "model_fnumber_confidence": float, "fnumber_source": str}.items():
        db["photos"].add_column(name, kind)
    db["photos"].create_index(["camera_model", "taken_at"])


def _m6_undo_journal(db: sqlite_utils.Database) -> None:
    """The hash an undo in progress (state 'undoing') will leave, so the next run can tell
    from the file whether a killed undo reached it (settle_pending)."""
    db["writes"].add_column("undo_hash", str)


def _m7_content_hash(db: sqlite_utils.Database) -> None:
    """The hash of each file as scanned, so `write` notices a change that kept its size and
    mtime. Rows scanned before have none and are checked by size and mtime alone."""
    db["photos"].add_column("content_hash", str)


def _m8_not_photos(db: sqlite_utils.Database) -> None:
    """Why a file is no camera photo (AI-generated, a screenshot: provenance.py). Files
    scanned before are checked when they change, or by `scan --force`."""
    db["photos"].add_column("not_photo", str)


def _m9_shots(db: sqlite_utils.Database) -> None:
    """RAW+JPEG pairs (pairs.py): on a RAW's row, the path of the JPEG (or HEIC) that is the
    same shot, whose estimate it shares. Set by every scan from the rows it finds."""
    db["photos"].add_column("shot_of", str)
    db["photos"].create_index(["shot_of"])


MIGRATIONS: Sequence[Callable[[sqlite_utils.Database], None]] = (
    _m1_initial, _m2_writes, _m3_lenses, _m4_chipped_lenses, _m5_library_evidence, _m6_undo_journal,
    _m7_content_hash, _m8_not_photos, _m9_shots)
