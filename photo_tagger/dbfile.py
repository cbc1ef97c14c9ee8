"""Which file is the database: refuse what is not phototag's before touching it, notice a
database deleted or replaced under a run, and turn SQLite's failures into one sentence.

A path that does not exist is a new database. An existing file must be SQLite holding
phototag's tables (or none at all); anything else is refused before a single byte of it
changes, since switching a file to WAL mode already rewrites its header.
"""

from __future__ import annotations

import errno
import functools
import inspect
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .errors import DatabaseError, StoreError

SQLITE_MAGIC = b"SQLite format 3\x00"
PHOTOTAG_TABLES = frozenset({"photos", "runs"})
F = TypeVar("F", bound=Callable[..., Any])


def check_file(path: Path) -> None:
    """Refuse an existing file that is not an SQLite database (an empty one included)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        return
    except IsADirectoryError as exc:
        raise DatabaseError(f"the database {path} is a folder, not a file") from exc
    except OSError as exc:
        raise DatabaseError(f"cannot open the database {path}: {exc.strerror or exc}") from exc
    if not head:
        wal = f"{path}-wal"  # a run killed before its first checkpoint may hold all in the WAL
        if not (os.path.exists(wal) and os.path.getsize(wal) > 0):
            raise DatabaseError(f"the database {path} is an empty file, not a phototag database; "
                                "delete it to start a new one")
        return
    if head != SQLITE_MAGIC:
        raise DatabaseError(f"{path} is not a phototag database (not an SQLite file); nothing was changed")


def check_tables(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse another program's SQLite database before anything is written into it."""
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if names and not PHOTOTAG_TABLES <= names:
        raise DatabaseError(f"{path} is another program's SQLite database, not phototag's; nothing was changed")


def identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of the database file: what a run checks it still writes into."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def store_error(path: Path, exc: BaseException) -> StoreError:
    """One sentence for a failure of the database under a run."""
    text = str(exc) or type(exc).__name__
    if (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or "full" in text:
        why = "the disk holding it is full; free some space and run the same command again"
    elif isinstance(exc, sqlite3.OperationalError) and "locked" in text:
        why = "another program holds it locked; try again when it is done"
    elif isinstance(exc, sqlite3.OperationalError) and "I/O" in text:
        why = "the disk refused a write (disk I/O error: full, or over a file-size limit)"
    else:
        why = f"it is damaged ({text}); restore it from a backup or move it away to start anew"
    return StoreError(f"the database {path} failed: {why}. Files written so far are intact")


def guarded(method: F) -> F:
    """A Store method whose SQLite and disk errors come out as StoreError (generators too)."""
    if inspect.isgeneratorfunction(method):
        @functools.wraps(method)
        def generator(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                yield from method(self, *args, **kwargs)
            except (sqlite3.Error, OSError) as exc:
                raise store_error(self.path, exc) from exc
        return generator  # type: ignore[return-value]

    @functools.wraps(method)
    def plain(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (sqlite3.Error, OSError) as exc:
            raise store_error(self.path, exc) from exc
    return plain  # type: ignore[return-value]
