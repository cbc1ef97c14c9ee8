"""Helpers shared by the CLI tests: run the real CLI, read back the real database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from click.testing import CliRunner

from photo_tagger.cli import cli


def run(*args: str):  # type: ignore[no-untyped-def]
    """The click CLI in-process, failing loudly on an unexpected exception."""
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def rows(db: Path) -> dict[str, dict]:
    """Every photo row of a database, keyed by file name."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    found = {Path(r["path"]).name: dict(r) for r in conn.execute("SELECT * FROM photos")}
    conn.close()
    return found


def wide_or_long(db: Path, folder: Path) -> None:
    """Two candidate lenses far apart (20 mm and 300 mm), both assigned to one folder, so
    the scan must pick between them."""
    opts = ("--db", str(db))
    assert run("lens", "add", "Wide", "--focal", "20", "--aperture", "2.8-22", *opts).exit_code == 0
    assert run("lens", "add", "Long", "--focal", "300", "--aperture", "4-32", *opts).exit_code == 0
    assert run("lens", "assign", "Wide", "Long", "--folder", str(folder), *opts).exit_code == 0


def writes(db: Path) -> list[dict]:
    """Every row of the writes table, in the order the writes were made."""
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    found = [dict(r) for r in conn.execute("SELECT * FROM writes ORDER BY id")]
    conn.close()
    return found
