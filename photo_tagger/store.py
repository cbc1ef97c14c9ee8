"""The SQLite database: one row per file, one per run, migrated on open.

Concurrent scans and readers share the file: WAL mode, a generous busy timeout, and
writes that take the lock up front (BEGIN IMMEDIATE) so two writers never deadlock.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import sqlite_utils

from .errors import DatabaseError
from .records import COLUMNS, PhotoRecord

BUSY_TIMEOUT_MS = 60_000


def _m1_initial(db: sqlite_utils.Database) -> None:
    types: dict[str, Any] = {name: str for name in COLUMNS}
    for name in ("size", "mtime_ns", "width", "height", "orientation", "exif_flash_fired", "run_id"):
        types[name] = int
    for name in COLUMNS:
        if name.startswith(("exif_", "fnumber", "focal_length", "crop_factor")) and name not in (
            "crop_factor_source", "exif_flash_fired"
        ):
            types[name] = float
    types["ev100"] = float
    types["path_bytes"] = bytes
    db["photos"].create(types, pk="path", not_null={"status", "size", "mtime_ns"})
    db["photos"].add_column("written", int, not_null_default=0)
    db["photos"].create_index(["status"])
    db["runs"].create(
        {
            "id": int, "command": str, "started_at": str, "finished_at": str,
            "model_version": str, "model_path": str, "provider": str, "summary": str,
        },
        pk="id",
    )


MIGRATIONS: Sequence[Callable[[sqlite_utils.Database], None]] = (_m1_initial,)


@dataclass(frozen=True)
class Known:
    """What the database remembers of a file, to skip unchanged work."""

    size: int
    mtime_ns: int
    status: str
    model_version: str | None


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Store:
    """Owns the database file; the rest of phototag never writes SQL."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
        except (OSError, sqlite3.Error) as exc:
            raise DatabaseError(f"cannot open the database {self.path}: {exc}") from exc
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        self._migrate()

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
            raise DatabaseError(f"the database {self.path} is unusable: {exc}") from exc
        except DatabaseError:
            self.conn.execute("ROLLBACK")
            raise

    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def known(self) -> dict[str, Known]:
        """Every file's size, mtime, status and model version, for the unchanged check."""
        rows = self.conn.execute("SELECT path, size, mtime_ns, status, model_version FROM photos")
        return {row[0]: Known(row[1], row[2], row[3], row[4]) for row in rows}

    def save(self, records: Sequence[PhotoRecord]) -> None:
        """Upsert a batch in one transaction: an interrupted scan loses at most this batch."""
        if not records:
            return
        names = ", ".join(COLUMNS)
        marks = ", ".join("?" for _ in COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in COLUMNS if c != "path")
        sql = (
            f"INSERT INTO photos ({names}, written) VALUES ({marks}, 0) "
            f"ON CONFLICT(path) DO UPDATE SET {updates}, written = 0"
        )
        rows = [tuple(getattr(r, c) for c in COLUMNS) for r in records]
        with self._write():
            self.conn.executemany(sql, rows)

    def start_run(self, command: str, model_version: str | None, model_path: str | None, provider: str | None) -> int:
        with self._write():
            cursor = self.conn.execute(
                "INSERT INTO runs (command, started_at, model_version, model_path, provider) "
                "VALUES (?, ?, ?, ?, ?)",
                (command, now(), model_version, model_path, provider),
            )
        return int(cursor.lastrowid or 0)

    def finish_run(self, run_id: int, summary: dict[str, Any]) -> None:
        with self._write():
            self.conn.execute(
                "UPDATE runs SET finished_at = ?, summary = ? WHERE id = ?",
                (now(), json.dumps(summary), run_id),
            )

    def rows(self) -> Iterator[dict[str, Any]]:
        """Every photo row, in path order (streamed, not collected)."""
        yield from self.db.query("SELECT * FROM photos ORDER BY path")

    def runs(self) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT * FROM runs ORDER BY id"))

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
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
