"""Put files back the way they were before phototag wrote into them.

Each write recorded what undo needs (tagio.undo_record). Undo takes writes newest
first, and only where the file's hash is still the one phototag left: a file edited since
is refused, with the reason, never overwritten. Restored files are byte-identical to the
originals (same mtime too), except 'tags' records (non-JPEG files over the size limit),
where the original tag values are written back.

An undo is a journal like a write: the row turns 'undoing', with the hash the file will
have, before the rename, and 'done' with its undone time after; a run killed in between
is settled by the next from what the file holds (journal.settle_pending). Each file is
undone on its own: a damaged record or an unreadable file fails that file, not the run.
"""

from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass, field
from typing import Any

from .atomic import discard, file_hash, fsync_folder, locked, remove_stale_temps, replace, sha256, write_temp
from .errors import MetadataWriteError, UndoRefused
from .faults import crash_point
from .store import Store
from .tagio import jpeg_image_offset, jpeg_scan_offset, modify
from .journal import real_path, settle_pending
from .writeback import selected

# what a damaged undo record raises while it is rebuilt: zlib, JSON, a cut-short header
DAMAGED_RECORD = (zlib.error, ValueError, TypeError)


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
    entries = [entry for entry in store.active_writes()
               if (entry["run_id"] == run_id if run_id is not None else selected(entry["path"], paths))]
    remove_stale_temps({os.path.dirname(os.fsdecode(entry["target"])) or "." for entry in entries})
    for entry in entries:
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
        except DAMAGED_RECORD as exc:
            summary.failed += 1
            summary.errors.append((entry["path"], f"its undo record is damaged ({type(exc).__name__}); "
                                                  "the file was left as it is"))
    return summary


def undo_last(store: Store) -> tuple[int | None, UndoSummary]:
    """Undo the newest run that still has writes in effect: (its id, the outcome); (None,
    nothing done) when no write is left to undo. Pending writes are settled first, so a
    killed run counts by what its files hold."""
    settle_pending(store)
    run_id = store.last_write_run()
    return (None, UndoSummary()) if run_id is None else (run_id, undo(store, run_id))


def undo_one(store: Store, entry: dict[str, Any]) -> str:
    """Restore one write's target; returns the undo kind used."""
    target = os.fsdecode(entry["target"])
    photo = real_path(entry)
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
            _remove_sidecar(store, entry, target)
            return kind
        with open(target, "rb") as handle:
            current = handle.read()
        original = _original(entry, current)
        like = os.stat(target)
        temp = write_temp(target, original, like, entry["mtime_before"] or like.st_mtime_ns)
        _replace_recorded(store, entry, temp, target, sha256(original))
        return kind


def _remove_sidecar(store: Store, entry: dict[str, Any], target: str) -> None:
    """Undo a sidecar phototag created: delete it, journaled like a rename."""
    crash_point("undo:temp")
    store.begin_undo(entry["id"], None)
    crash_point("undo:pending")
    os.unlink(target)
    fsync_folder(os.path.dirname(target) or ".")
    crash_point("undo:renamed")
    store.mark_undone(entry["id"])
    crash_point("undo:done")


def _replace_recorded(store: Store, entry: dict[str, Any], temp: str, target: str, restored_hash: str) -> None:
    """Record the undo, check the file once more, rename, record it done."""
    crash_point("undo:temp")
    try:
        store.begin_undo(entry["id"], restored_hash)
        crash_point("undo:pending")
        if file_hash(target) != entry["hash_after"]:
            raise UndoRefused("it changed while phototag was restoring it; your edits are kept (nothing undone)")
        replace(temp, target)
    except BaseException:
        discard(temp)
        store.abandon_undo(entry["id"])
        raise
    crash_point("undo:renamed")
    info = os.stat(target)
    if entry["method"] == "exif":
        store.mark_undone(entry["id"], info.st_size, info.st_mtime_ns)
    else:
        store.mark_undone(entry["id"])
    crash_point("undo:done")


def _original(entry: dict[str, Any], current: bytes) -> bytes:
    kind = entry["undo_kind"]
    if kind == "jpeg_prefix":
        original = zlib.decompress(entry["undo_blob"]) + current[jpeg_scan_offset(current):]
    elif kind == "jpeg_header":  # older records: the metadata run before the first table
        original = zlib.decompress(entry["undo_blob"]) + current[jpeg_image_offset(current):]
    elif kind == "whole":
        original = zlib.decompress(entry["undo_blob"])
    else:  # 'tags': put the recorded values back (None deletes what phototag added)
        before = json.loads(entry["tags_before"])
        return modify(current, before.get("exif", {}), before.get("xmp", {}))
    if sha256(original) != entry["hash_before"]:
        raise MetadataWriteError("the rebuilt original does not match its recorded hash; nothing was changed")
    return original
