"""Put files back the way they were before phototag wrote into them.

Each write recorded what undo needs (tagio.undo_record). Undo takes writes newest
first, and only where the file's hash is still the one phototag left: a file edited since
is refused, with the reason, never overwritten. Restored files are byte-identical to the
originals (same mtime too), except 'tags' records (non-JPEG files over the size limit),
where the original tag values are written back.
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass, field
from typing import Any

from .errors import MetadataWriteError, UndoRefused
from .store import Store
from .atomic import file_hash, fsync_folder, locked, replace, sha256, write_temp
from .tagio import jpeg_image_offset, modify
from .writeback import selected, settle_pending


@dataclass
class UndoSummary:
    """Counts for the summary line, and one reason per refused or failed file."""

    restored: int = 0
    tags_only: int = 0  # restored by rewriting tag values, not byte for byte
    refused: int = 0
    failed: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)


def undo(store: Store, run_id: int | None = None, paths: tuple[str, ...] = ()) -> UndoSummary:
    """Undo the writes of one run, or those to photos at or under paths."""
    summary = UndoSummary()
    settle_pending(store)
    for entry in store.active_writes():
        if run_id is not None and entry["run_id"] != run_id:
            continue
        if run_id is None and not selected(entry["path"], paths):
            continue
        try:
            summary.tags_only += undo_one(store, entry) == "tags"
            summary.restored += 1
        except UndoRefused as exc:
            summary.refused += 1
            summary.errors.append((entry["path"], str(exc)))
        except (MetadataWriteError, OSError) as exc:
            summary.failed += 1
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            summary.errors.append((entry["path"], f"it could not be restored ({reason})"))
    return summary


def undo_one(store: Store, entry: dict[str, Any]) -> str:
    """Restore one write's target; returns the undo kind used."""
    target = os.fsdecode(entry["target"])
    photo = os.fsdecode(entry["path_bytes"]) if entry["path_bytes"] else entry["path"]
    kind = entry["undo_kind"]
    if not os.path.exists(photo):
        raise UndoRefused("the photo is gone")
    with locked(photo):
        current_hash = file_hash(target)
        if current_hash is None:
            if kind == "sidecar_new":  # the user already deleted the sidecar phototag made
                store.mark_undone(entry["id"])
                return kind
            raise UndoRefused("the file phototag wrote is gone")
        if current_hash != entry["hash_after"]:
            raise UndoRefused("it changed since phototag wrote it; your later edits are kept (nothing undone)")
        if kind == "sidecar_new":
            os.unlink(target)
            fsync_folder(os.path.dirname(target) or ".")
            store.mark_undone(entry["id"])
            return kind
        with open(target, "rb") as handle:
            current = handle.read()
        original = _original(entry, current)
        like = os.stat(target)
        temp = write_temp(target, original, like, entry["mtime_before"] or like.st_mtime_ns)
        replace(temp, target)
        info = os.stat(target)
        if entry["method"] == "exif":
            store.mark_undone(entry["id"], info.st_size, info.st_mtime_ns)
        else:
            store.mark_undone(entry["id"])
        return kind


def _original(entry: dict[str, Any], current: bytes) -> bytes:
    kind = entry["undo_kind"]
    if kind == "jpeg_header":
        original = zlib.decompress(entry["undo_blob"]) + current[jpeg_image_offset(current):]
    elif kind == "whole":
        original = zlib.decompress(entry["undo_blob"])
    else:  # 'tags': put the recorded values back (None deletes what phototag added)
        before = json.loads(entry["tags_before"])
        return modify(current, before.get("exif", {}), before.get("xmp", {}))
    if sha256(original) != entry["hash_before"]:
        raise MetadataWriteError("the rebuilt original does not match its recorded hash; nothing was changed")
    return original
