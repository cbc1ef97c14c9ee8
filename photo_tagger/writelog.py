"""The writes table: what `write` put into files and sidecars, for `undo` and the journal.

Every write is recorded before its file is replaced ('pending'), marked done after, and an
undo is recorded ('undoing') before the file goes back (journal.py settles what a kill left).
Store (store.py) owns the connection and inherits these.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import sqlite_utils

from .dbfile import guarded

# a write in effect: it reached the file (or sidecar) and no undo has taken it back
IN_EFFECT = "state = 'done' AND undone_at IS NULL"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class WriteLog:
    """The writes table's queries and updates, each in its own transaction."""

    conn: sqlite3.Connection
    db: sqlite_utils.Database

    @guarded
    def note_write(self, path: str, note: str | None) -> None:
        """Why a photo's estimate was held back or failed (None: nothing to say)."""
        with self._write():
            self.conn.execute("UPDATE photos SET write_note = ? WHERE path = ?", (note, path))

    @guarded
    def begin_write(self, entry: dict[str, Any]) -> int:
        """Record a write before the file is replaced: a crash leaves a 'pending' row to settle."""
        columns = {**entry, "state": "pending", "written_at": now()}
        names = ", ".join(columns)
        marks = ", ".join("?" for _ in columns)
        with self._write():
            cursor = self.conn.execute(f"INSERT INTO writes ({names}) VALUES ({marks})", tuple(columns.values()))
        return int(cursor.lastrowid or 0)

    @guarded
    def finish_write(self, write_id: int, file_size: int | None = None, file_mtime_ns: int | None = None) -> None:
        """The file now holds what the write row says: mark it done and the photo written.

        When the photo file itself changed, its new size, mtime and hash are stored so the
        next scan and write see it as unchanged (the change is phototag's own).
        """
        with self._write():
            path = self.conn.execute("SELECT path FROM writes WHERE id = ?", (write_id,)).fetchone()[0]
            self.conn.execute("UPDATE writes SET state = 'done' WHERE id = ?", (write_id,))
            self.conn.execute("UPDATE photos SET written = 1, write_note = NULL WHERE path = ?", (path,))
            if file_size is not None:
                self.conn.execute(
                    "UPDATE photos SET size = ?, mtime_ns = ?, content_hash = "
                    "(SELECT hash_after FROM writes WHERE id = ?) WHERE path = ?",
                    (file_size, file_mtime_ns, write_id, path))
                self.conn.execute("UPDATE writes SET size_after = ?, mtime_after = ? WHERE id = ?",
                                  (file_size, file_mtime_ns, write_id))

    @guarded
    def drop_write(self, write_id: int) -> None:
        """Forget a pending write that never reached the file."""
        with self._write():
            self.conn.execute("DELETE FROM writes WHERE id = ? AND state = 'pending'", (write_id,))

    @guarded
    def pending_writes(self) -> list[dict[str, Any]]:
        """Writes and undos a run began and may not have finished (a crash, a kill)."""
        return list(self.db.query("SELECT * FROM writes WHERE state IN ('pending', 'undoing') ORDER BY id"))

    @guarded
    def write_entry(self, write_id: int) -> dict[str, Any] | None:
        """One write's row as stored now (another process may have settled it)."""
        return self._first("SELECT * FROM writes WHERE id = ?", write_id)

    @guarded
    def begin_undo(self, write_id: int, undo_hash: str | None) -> None:
        """Record an undo before the file is replaced: the hash the file will have after it
        (None: the sidecar removed), so a killed undo is settled from the file."""
        with self._write():
            self.conn.execute("UPDATE writes SET state = 'undoing', undo_hash = ? WHERE id = ?",
                              (undo_hash, write_id))

    @guarded
    def abandon_undo(self, write_id: int) -> None:
        """An undo that never reached the file: the write stays in effect."""
        with self._write():
            self.conn.execute("UPDATE writes SET state = 'done' WHERE id = ? AND state = 'undoing'", (write_id,))

    @guarded
    def active_writes(self) -> list[dict[str, Any]]:
        """Writes in effect (done, not undone), newest first: the order `undo` takes them in."""
        return list(self.db.query(f"SELECT * FROM writes WHERE {IN_EFFECT} ORDER BY id DESC"))

    @guarded
    def writes_to(self, path: str) -> list[dict[str, Any]]:
        """Every write to one photo, undone ones too, oldest first (no undo record: `show` lists them)."""
        return list(self.db.query(
            "SELECT id, run_id, path, target, written_at, method, state, tags_after, undone_at "
            "FROM writes WHERE path = ? ORDER BY id", [path]))

    @guarded
    def last_write_run(self) -> int | None:
        """The newest run that still has writes in effect: what `undo --last` takes back."""
        return self.conn.execute(f"SELECT MAX(run_id) FROM writes WHERE {IN_EFFECT}").fetchone()[0]

    @guarded
    def active_write_tags(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(photo, the tags it set) for each write in effect; the report counts values from them."""
        for path, tags in self.conn.execute(
            f"SELECT path, tags_after FROM writes WHERE {IN_EFFECT}"
        ):
            yield path, json.loads(tags)

    @guarded
    def mark_undone(self, write_id: int, file_size: int | None = None, file_mtime_ns: int | None = None) -> None:
        """The file is back to what it was before this write (its hash: the one the undo
        recorded it would leave, or for older records the original's)."""
        with self._write():
            path = self.conn.execute("SELECT path FROM writes WHERE id = ?", (write_id,)).fetchone()[0]
            self.conn.execute("UPDATE writes SET undone_at = ?, state = 'done' WHERE id = ?", (now(), write_id))
            left = self.conn.execute(
                f"SELECT COUNT(*) FROM writes WHERE path = ? AND {IN_EFFECT}", (path,)
            ).fetchone()[0]
            if not left:
                self.conn.execute("UPDATE photos SET written = 0, write_note = 'undone' WHERE path = ?", (path,))
            if file_size is not None:
                self.conn.execute(
                    "UPDATE photos SET size = ?, mtime_ns = ?, content_hash = "
                    "(SELECT COALESCE(undo_hash, hash_before) FROM writes WHERE id = ?) WHERE path = ?",
                    (file_size, file_mtime_ns, write_id, path))

    @guarded
    def write_counts(self) -> dict[str, Any]:
        """For the report: estimates written, undone, and held back by reason."""
        one = lambda sql: self.conn.execute(sql).fetchone()[0]  # noqa: E731
        notes = self.conn.execute(
            "SELECT write_note, COUNT(*) FROM photos WHERE status = 'predicted' AND written = 0 "
            "AND write_note IS NOT NULL GROUP BY write_note ORDER BY COUNT(*) DESC"
        ).fetchall()
        return {
            "written": one("SELECT COUNT(*) FROM photos WHERE written = 1"),
            "into_files": one(f"SELECT COUNT(*) FROM writes WHERE {IN_EFFECT} AND method = 'exif'"),
            "into_sidecars": one(f"SELECT COUNT(*) FROM writes WHERE {IN_EFFECT} AND method = 'sidecar'"),
            "undone": one("SELECT COUNT(*) FROM writes WHERE undone_at IS NOT NULL"),
            "runs_in_effect": {str(run): n for run, n in self.conn.execute(  # what `undo --run N` takes
                f"SELECT run_id, COUNT(*) FROM writes WHERE {IN_EFFECT} GROUP BY run_id ORDER BY run_id")},
            "not_written": {note: count for note, count in notes},
        }

    def _first(self, sql: str, *params: Any) -> dict[str, Any] | None:
        found = list(self.db.query(sql, list(params)))
        return found[0] if found else None

    def _write(self) -> _Transaction:
        return _Transaction(self.conn)


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any error."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            try:
                self.conn.execute("COMMIT")
                return
            except sqlite3.Error:
                self._rollback()
                raise
        self._rollback()

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")
