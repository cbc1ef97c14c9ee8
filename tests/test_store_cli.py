"""The database (migrations, concurrency), the model lookup, CLI help and packaging."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from photo_tagger.cli import cli
from photo_tagger.errors import DatabaseError, NoModelInstalled
from photo_tagger.records import PhotoRecord
from photo_tagger.store import MIGRATIONS, Store

ROOT = Path(__file__).resolve().parents[1]


def test_schema_is_created_and_versioned(tmp_path):
    with Store(tmp_path / "a.db") as store:
        assert store.schema_version() == len(MIGRATIONS)
    with Store(tmp_path / "a.db") as again:  # reopening applies nothing twice
        assert again.schema_version() == len(MIGRATIONS)


def test_a_newer_database_is_refused_with_a_reason(tmp_path):
    Store(tmp_path / "a.db").close()
    conn = sqlite3.connect(tmp_path / "a.db")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(DatabaseError, match="newer phototag"):
        Store(tmp_path / "a.db")


def test_two_writers_at_once_lose_nothing(tmp_path):
    db = tmp_path / "a.db"
    Store(db).close()
    errors: list[BaseException] = []

    def writer(prefix: str) -> None:
        try:
            with Store(db) as store:
                for batch in range(20):
                    store.save([PhotoRecord(f"/{prefix}/{batch}/{i}.jpg", "error", 1, 1, "x") for i in range(25)])
        except BaseException as exc:  # noqa: BLE001 - surface any failure to the test
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(p,)) for p in "ab"]
    [t.start() for t in threads]
    with Store(db) as reader:  # a report reading while scans write
        while any(t.is_alive() for t in threads):
            list(reader.rows())
    [t.join() for t in threads]
    assert not errors
    with Store(db) as store:
        assert len(list(store.rows())) == 2 * 20 * 25


def test_every_command_has_help():
    for name, command in cli.commands.items():
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0, name
        assert command.help and len(command.help) > 20, f"{name} needs a help text"


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("phototag, version ")


def test_no_model_anywhere_is_a_clear_error(tmp_path, monkeypatch):
    import photo_tagger.registry as registry

    monkeypatch.setattr(registry, "shipped_models", lambda: [])
    with pytest.raises(NoModelInstalled, match="phototag train"):
        registry.default_model()


def test_scan_never_imports_torch(library, tiny_model, tmp_path):
    code = (
        "import sys; from photo_tagger.cli import main; sys.argv=['phototag','scan',sys.argv[1],'--model',sys.argv[2],'--workers','1'];\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'scan imported torch'; print('no torch')"
    )
    env = {**os.environ, "PHOTOTAG_HOME": str(tmp_path / "h")}
    done = subprocess.run([sys.executable, "-c", code, str(library), str(tiny_model)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and "no torch" in done.stdout, done.stderr


def test_non_editable_install_finds_its_shipped_model(tmp_path):
    """pip install . (not -e) must carry models/ inside the package and find it there."""
    target = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--target", str(target), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert not (target / "trainer").exists(), "no bare top-level 'trainer' package may be installed"
    assert (target / "photo_tagger" / "trainer" / "__init__.py").is_file()
    code = "import photo_tagger.registry as r; print(r.default_model().path)"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(target), "PHOTOTAG_HOME": str(tmp_path / "h")}
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    shipped = sorted((ROOT / "models").glob("*.onnx"))
    if not shipped:
        assert "no model is installed" in found.stderr
        pytest.skip("no model is shipped in models/ yet")
    assert found.returncode == 0, found.stderr
    path = Path(found.stdout.strip())
    assert path.is_file() and str(path).startswith(str(target)), path


def test_an_old_database_is_upgraded_in_place_and_keeps_its_rows(tmp_path, monkeypatch):
    import photo_tagger.store as store_module

    db = tmp_path / "old.db"
    monkeypatch.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:1])
    with Store(db) as old:
        assert old.schema_version() == 1
        old.conn.execute("INSERT INTO photos (path, status, size, mtime_ns) VALUES ('/a.jpg', 'error', 1, 2)")
    monkeypatch.undo()
    with Store(db) as new:
        assert new.schema_version() == len(MIGRATIONS)
        rows = list(new.rows())
        assert [(r["path"], r["status"], r["written"]) for r in rows] == [("/a.jpg", "error", 0)]
        assert {"write_note", "lens_name", "focal_length_source"} <= set(rows[0])


def test_a_database_from_before_chipped_lenses_upgrades_without_redoing_predictions(tmp_path):
    """Migration 4 adds lenses.chipped: a lens added earlier reads back as not chipped, and the
    lens facts' fingerprint stays what the previous version stored beside each prediction,
    so the first scan after the upgrade does not re-estimate every manual-lens photo."""
    import dataclasses
    import hashlib
    import json

    import sqlite_utils

    from photo_tagger.lensbook import LensBook
    from photo_tagger.lenses import custom_lens

    db = sqlite_utils.Database(tmp_path / "old.db")
    for migration in MIGRATIONS[:3]:
        migration(db)
    lens = custom_lens("Helios", "58", "2-16")
    old_row = {k: v for k, v in lens.__dict__.items() if k != "chipped"}
    db["lenses"].insert({**old_row, "added_at": "2026-01-01T00:00:00"})
    db.execute("PRAGMA user_version = 3")
    db.conn.commit()
    db.close()
    stored = hashlib.sha1(json.dumps({"lenses": [old_row], "rules": [], "forced": None, "crops": {}},
                                     sort_keys=True).encode()).hexdigest()[:16]  # as the previous version computed it
    with Store(tmp_path / "old.db") as store:
        assert store.schema_version() == len(MIGRATIONS)
        book = LensBook(store)
        assert book.lenses() == [lens] and not book.lenses()[0].chipped
        assert book.resolver().fingerprint() == stored
        book.add(dataclasses.replace(lens, chipped=True), replace=True)
        assert book.lenses()[0].chipped and book.resolver().fingerprint() != stored
