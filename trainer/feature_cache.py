"""Backbone features per photo, kept between training runs in one SQLite file.

Rendering a photo's variants and running the backbone on them is most of a training run's
time, and a library changes a little between two `phototag train` runs: keyed per photo
(its path, size and modification time, its variant plan, the input size and the feature
model), a second run computes only the photos that are new or changed. Each batch is
committed as it is computed, so an interrupted run keeps what it finished.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

FILE_NAME = "features.sqlite"
_SCHEMA = ("CREATE TABLE IF NOT EXISTS features (key TEXT PRIMARY KEY, rows INTEGER NOT NULL, "
           "dim INTEGER NOT NULL, data BLOB NOT NULL, used REAL NOT NULL)")


def photo_key(extractor: str, input_size: int, path: str, size: int, mtime_ns: int, variants: str) -> str:
    """Changes when the file, its variant plan, the input size or the feature model does."""
    text = "\0".join((extractor, str(input_size), path, str(size), str(mtime_ns), variants))
    return hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()


class FeatureCache:
    """Float32 feature rows [variants, dim] per photo key."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / FILE_NAME
        self._db = sqlite3.connect(self.path, timeout=60)
        self._db.execute(_SCHEMA)
        self._db.commit()

    def get(self, keys: Sequence[str]) -> dict[str, np.ndarray]:
        """The cached rows of those keys that have them (and marks them used)."""
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(keys), 500):  # SQLite caps the number of parameters
            chunk = list(keys[start:start + 500])
            marks = ",".join("?" * len(chunk))
            for key, rows, dim, data in self._db.execute(
                    f"SELECT key, rows, dim, data FROM features WHERE key IN ({marks})", chunk):
                found[key] = np.frombuffer(data, dtype=np.float32).reshape(rows, dim)
            self._db.execute(f"UPDATE features SET used = ? WHERE key IN ({marks})", [time.time(), *chunk])
        self._db.commit()
        return found

    def put(self, items: Iterable[tuple[str, np.ndarray]]) -> None:
        """Store rows in one transaction."""
        now = time.time()
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO features (key, rows, dim, data, used) VALUES (?, ?, ?, ?, ?)",
                [(key, rows.shape[0], rows.shape[1], np.ascontiguousarray(rows, np.float32).tobytes(), now)
                 for key, rows in items])

    def drop_unused_since(self, moment: float) -> int:
        """Drop what no lookup or store has touched since `moment` (a run's start: photos
        deleted or changed since, other models' features); returns how many went."""
        with self._db:
            dropped = self._db.execute("DELETE FROM features WHERE used < ?", (moment,)).rowcount
        if dropped:
            self._db.execute("VACUUM")  # give the space back to the disk
        return dropped

    def count(self) -> int:
        """How many photos' features it holds."""
        return int(self._db.execute("SELECT COUNT(*) FROM features").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> FeatureCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
