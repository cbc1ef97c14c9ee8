"""Settle what a killed write or undo left: the database is made to agree with the files.

`write` and `undo` record each change before the rename ('pending', 'undoing') and mark it
done after. A run killed in between leaves such a row; every command that reads or writes
the records (scan, write, undo, report) settles them first, from what the file holds.
"""

from __future__ import annotations

import os
from typing import Any

from .atomic import file_hash, locked
from .store import Store


def settle_pending(store: Store) -> int:
    """Make the database agree with the files after a crash inside a write or an undo: each
    journal row is settled from what the file holds, under the photo's lock, so a run still
    working on it (holding the lock) is waited for, never overtaken. A file that cannot be
    opened now (permissions) keeps its row for a later run. Returns how many were settled."""
    settled = 0
    for entry in store.pending_writes():
        photo = real_path(entry)
        try:
            with locked(photo):
                settled += _settle_one(store, entry["id"])
        except FileNotFoundError:  # the photo is gone: nothing to wait for
            settled += _settle_one(store, entry["id"])
        except OSError:
            continue
    return settled


def _settle_one(store: Store, write_id: int) -> int:
    entry = store.write_entry(write_id)  # as stored now: another run may have settled it
    if entry is None or entry["state"] not in ("pending", "undoing"):
        return 0
    target = os.fsdecode(entry["target"])
    current = file_hash(target)
    info = os.stat(target) if current is not None and entry["method"] == "exif" else None
    stat = (info.st_size, info.st_mtime_ns) if info else (None, None)
    if entry["state"] == "pending":
        if current == entry["hash_after"]:
            store.finish_write(write_id, *stat)
        else:  # the replace never happened (or the file changed since): nothing was written
            store.drop_write(write_id)
    elif current == entry["undo_hash"]:  # the undo reached the file (None: the sidecar is gone)
        store.mark_undone(write_id, *stat)
    else:  # it did not: the write is still in effect
        store.abandon_undo(write_id)
    return 1


def real_path(row: dict[str, Any]) -> str:
    """The file's real name: the stored bytes when the display form differs."""
    return os.fsdecode(row["path_bytes"]) if row.get("path_bytes") else row["path"]
