"""The SQLite database: one row per file, one per run, migrated on open.

Concurrent scans and readers share the file: WAL mode, a generous busy timeout, and
writes that take the lock up front (BEGIN IMMEDIATE) so two writers never deadlock.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from .dbfile import check_file, check_tables, guarded, identity, store_error
from .errors import DatabaseError, StoreError
from .migrations import MIGRATIONS
from .records import COLUMNS, PhotoRecord
from .writelog import WriteLog, now

BUSY_TIMEOUT_MS = 60_000


# A write in effect whose file is the one a scan read: the file the write left, or (a scan
# running beside `write`, its row saved after the write) the file the write replaced.
_LEFT = "w.size_after = excluded.size AND w.mtime_after = excluded.mtime_ns"
_REPLACED = ("w.method = 'exif' AND w.size_before = excluded.size AND w.mtime_before = excluded.mtime_ns "
             "AND NOT (w.size_after IS w.size_before AND w.mtime_after IS w.mtime_before) "
             "AND datetime(w.written_at) >= datetime(excluded.scanned_at, '-60 seconds')")


def _in_effect_on(condition: str) -> str:
    return (f"EXISTS (SELECT 1 FROM writes w WHERE w.path = excluded.path AND w.state = 'done' "
            f"AND w.undone_at IS NULL AND ({condition}))")


# The written flag survives a scan of the same file with the same model and lens: a new
# model or lens clears it, so `write` writes the new values. The writes table is the truth.
_SAME_FILE = f"w.method = 'sidecar' OR ({_LEFT}) OR ({_REPLACED})"
_KEEP_WRITTEN = (f"CASE WHEN {_in_effect_on(_SAME_FILE)} "
                 "AND photos.model_version IS excluded.model_version AND photos.lens_setup IS excluded.lens_setup "
                 "THEN photos.written ELSE 0 END")
# a row read from the file a write then replaced keeps the size, mtime and hash the write left
_STAT_COLUMNS = ("size", "mtime_ns", "content_hash")
_KEEP_STAT = f"CASE WHEN {_in_effect_on(_REPLACED)} THEN photos.{{0}} ELSE excluded.{{0}} END"


@dataclass(frozen=True)
class Known:
    """What the database remembers of a file, to skip unchanged work."""

    size: int
    mtime_ns: int
    status: str
    model_version: str | None
    lens_setup: str | None = None
    not_photo: str | None = None  # the reason a scan found it no camera photo


class Store(WriteLog):
    """Owns the database file; the rest of phototag never writes SQL (the writes table's
    side lives in writelog.py)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        check_file(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            check_tables(conn, self.path)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        except (OSError, sqlite3.Error) as exc:
            raise DatabaseError(f"cannot open the database {self.path}: {exc}") from exc
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self._migrate()
        self.identity = identity(self.path)

    def check_same_file(self) -> None:
        """Raise StoreError when the database file was deleted or replaced since it was
        opened: what this run recorded went into a file nobody will read again."""
        if identity(self.path) != self.identity:
            raise StoreError(
                f"the database {self.path} was deleted or replaced while phototag ran: this run's record "
                "of what it wrote is lost with it, so `phototag undo` cannot restore those files")

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self) -> None:
        """Apply numbered migrations past PRAGMA user_version, each in its own transaction."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            if version > len(MIGRATIONS):
                raise DatabaseError(
                    f"the database {self.path} was written by a newer phototag "
                    f"(schema {version}); upgrade phototag"
                )
            for number in range(version, len(MIGRATIONS)):
                MIGRATIONS[number](self.db)
                self.conn.execute(f"PRAGMA user_version = {number + 1}")
            self.conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            self.conn.execute("ROLLBACK") if self.conn.in_transaction else None
            if "full" in str(exc) or "I/O" in str(exc):
                raise store_error(self.path, exc) from exc
            raise DatabaseError(f"the database {self.path} is unusable: {exc}") from exc
        except DatabaseError:
            self.conn.execute("ROLLBACK")
            raise

    @guarded
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    @guarded
    def known(self) -> dict[str, Known]:
        """Every file's size, mtime, status and model version, for the unchanged check."""
        rows = self.conn.execute("SELECT path, size, mtime_ns, status, model_version, lens_setup, not_photo FROM photos")
        return {row[0]: Known(*row[1:]) for row in rows}

    @guarded
    def save(self, records: Sequence[PhotoRecord]) -> None:
        """Upsert a batch in one transaction: an interrupted scan loses at most this batch."""
        if not records:
            return
        names = ", ".join(COLUMNS)
        marks = ", ".join("?" for _ in COLUMNS)
        updates = ", ".join(f"{c} = {_KEEP_STAT.format(c) if c in _STAT_COLUMNS else f'excluded.{c}'}"
                            for c in COLUMNS if c != "path")
        sql = (
            f"INSERT INTO photos ({names}, written) VALUES ({marks}, 0) "
            f"ON CONFLICT(path) DO UPDATE SET {updates}, written = {_KEEP_WRITTEN}"
        )
        rows = [tuple(getattr(r, c) for c in COLUMNS) for r in records]
        with self._write():
            self.conn.executemany(sql, rows)

    @guarded
    def labeled_exposures(self) -> Iterator[dict[str, Any]]:
        """The photos whose own EXIF holds the exposure triangle: what the library teaches (an
        image that is no camera photo teaches nothing, even one estimated on request)."""
        yield from self.db.query(
            "SELECT path, camera_make, camera_model, lens_model, taken_at, exif_fnumber, exif_exposure_time, "
            "exif_iso, exif_exposure_bias, exif_flash_fired, exif_exposure_program FROM photos WHERE status = 'has_exif' "
            "AND not_photo IS NULL AND exif_fnumber > 0 AND exif_exposure_time > 0 AND exif_iso > 0")

    @guarded
    def refinable(self) -> Iterator[dict[str, Any]]:
        """Estimates the library may still sharpen: the model's distribution is kept and
        nothing was written into the file yet; with them the estimates of labeled photos
        checked against their EXIF (`scan --all`). A known lens comes with its row."""
        yield from self.db.query(
            "SELECT path, camera_make, camera_model, lens_model, taken_at, exif_exposure_time, exif_iso, "
            "exif_exposure_bias, exif_flash_fired, exif_exposure_program, model_fnumber_probs, model_fnumber, model_fnumber_confidence, "
            "fnumber, fnumber_confidence, fnumber_source, lens_name, lens_confidence FROM photos "
            "WHERE status IN ('predicted', 'has_exif') AND written = 0 AND model_fnumber_probs IS NOT NULL")

    @guarded
    def save_fnumbers(self, updates: Sequence[tuple[float, float, str, str]]) -> None:
        """(fnumber, confidence, source, path) for estimates not yet written, in one transaction."""
        if not updates:
            return
        with self._write():
            self.conn.executemany(
                "UPDATE photos SET fnumber = ?, fnumber_confidence = ?, fnumber_source = ? "
                "WHERE path = ? AND written = 0", updates)

    @guarded
    def shot_candidates(self) -> list[dict[str, Any]]:
        """What pairs.py tells RAW+JPEG pairs by: names, times and bodies, no estimates."""
        return list(self.db.query(
            "SELECT path, path_bytes, status, taken_at, camera_make, camera_model, not_photo FROM photos "
            "WHERE status IN ('predicted', 'has_exif') AND taken_at IS NOT NULL"))

    @guarded
    def save_shots(self, links: dict[str, str], updates: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """Every pair's link (RAW: JPEG path; the others cleared) and the columns that give
        both rows the shot's values, in one transaction. Column names are pairs.py's own."""
        with self._write():
            self.conn.execute("UPDATE photos SET shot_of = NULL WHERE shot_of IS NOT NULL")
            self.conn.executemany("UPDATE photos SET shot_of = ? WHERE path = ?",
                                  [(picture, raw) for raw, picture in links.items()])
            for path, columns in updates:
                sets = ", ".join(f"{name} = ?" for name in columns)
                self.conn.execute(f"UPDATE photos SET {sets} WHERE path = ?", (*columns.values(), path))

    @guarded
    def start_run(self, command: str, model_version: str | None, model_path: str | None, provider: str | None) -> int:
        with self._write():
            cursor = self.conn.execute(
                "INSERT INTO runs (command, started_at, model_version, model_path, provider) "
                "VALUES (?, ?, ?, ?, ?)",
                (command, now(), model_version, model_path, provider),
            )
        return int(cursor.lastrowid or 0)

    @guarded
    def finish_run(self, run_id: int, summary: dict[str, Any]) -> None:
        with self._write():
            self.conn.execute(
                "UPDATE runs SET finished_at = ?, summary = ? WHERE id = ?",
                (now(), json.dumps(summary), run_id),
            )

    @guarded
    def rows(self) -> Iterator[dict[str, Any]]:
        """Every photo row, in path order (streamed, not collected)."""
        yield from self.db.query("SELECT * FROM photos ORDER BY path")

    @guarded
    def runs(self) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT * FROM runs ORDER BY id"))

    # --- what `write` reads, one photo at a time (the writes table: writelog.py) ---------

    @guarded
    def predicted_paths(self) -> list[tuple[str, bytes | None]]:
        """(path, path_bytes) of the photos holding an estimate that may be written, in path
        order: names only, so a write over 200,000 photos does not hold 200,000 rows; each
        row is read when its turn comes (`photo`), after the writes before it."""
        return [(r["path"], r["path_bytes"])
                for r in self.db.query("SELECT path, path_bytes FROM photos WHERE status = 'predicted' ORDER BY path")]

    @guarded
    def photo(self, path: str) -> dict[str, Any] | None:
        """One photo's row as stored now (another process may have changed it)."""
        return self._first("SELECT * FROM photos WHERE path = ?", path)

    @guarded
    def run(self, run_id: int) -> dict[str, Any] | None:
        return self._first("SELECT * FROM runs WHERE id = ?", run_id)
