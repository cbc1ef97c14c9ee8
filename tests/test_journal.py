"""The database as a journal of what phototag did to which file (issue 30): killed undos
settled from the disk, edits during a write never lost, rescans that keep the written
flags, per-file undo, one-line database failures, and databases that are not ours."""

from __future__ import annotations

import hashlib
import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pyexiv2
import pytest
from click.testing import CliRunner

import photo_tagger.undo as undo_module
import photo_tagger.writeback as writeback
from photo_tagger.atomic import TEMP_MARK
from photo_tagger.cli import cli
from photo_tagger.faults import FAULT_ENV
from photo_tagger.store import Store
from photos import camera_exif, make_photo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def query(db: Path, sql: str) -> list[dict]:
    conn = sqlite3.connect(db)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql)]
    finally:
        conn.close()


def library(tmp_path: Path, model: Path, count: int = 3) -> tuple[Path, Path, dict[Path, bytes]]:
    root, db = tmp_path / "lib", tmp_path / "t.db"
    paths = [make_photo(root / f"p{i}.jpg", exif=camera_exif(None, None), seed=i) for i in range(count)]
    assert run("scan", str(root), "--db", str(db), "--model", str(model), "--workers", "1").exit_code == 0
    return root, db, {p: p.read_bytes() for p in paths}


def killed_in_child(action) -> bool:  # type: ignore[no-untyped-def]
    """Run action in a forked child that dies by SIGKILL inside it; True if it did."""
    pid = os.fork()
    if pid == 0:
        try:
            action()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def die(*args: object, **kwargs: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def write_all(root: Path, db: Path):  # type: ignore[no-untyped-def]
    result = run("write", str(root), "--db", str(db), "--min-confidence", "0")
    assert "0 failed" in result.output, result.output
    return result


# --- 1. undo is a journal -----------------------------------------------------------------


def test_an_undo_killed_between_rename_and_record_is_settled_by_the_next_run(tmp_path, tiny_model):
    root, db, originals = library(tmp_path, tiny_model)
    write_all(root, db)
    photo = root / "p0.jpg"

    def undo_then_die_before_recording() -> None:
        Store.mark_undone = die  # type: ignore[method-assign]  # the rename happened; the record did not
        CliRunner().invoke(cli, ["undo", str(photo), "--db", str(db)])

    assert killed_in_child(undo_then_die_before_recording)
    assert photo.read_bytes() == originals[photo]
    later = run("undo", str(root), "--db", str(db))
    assert "Undo: 2 restored, 0 refused" in later.output, later.output  # p0 is not 'changed since written'
    assert {p: p.read_bytes() for p in originals} == originals
    record = query(db, "SELECT * FROM writes WHERE path LIKE '%p0.jpg'")[0]
    assert record["undone_at"] and record["state"] == "done"
    assert query(db, "SELECT written FROM photos WHERE path LIKE '%p0.jpg'") == [{"written": 0}]
    again = run("write", str(photo), "--db", str(db), "--min-confidence", "0")
    assert "Write: 1 written" in again.output, again.output  # not 'already written'


def test_a_killed_undo_leaves_no_temporary_copy_after_the_next_undo(tmp_path, tiny_model):
    root, db, originals = library(tmp_path, tiny_model)
    write_all(root, db)

    def undo_then_die_before_rename() -> None:
        undo_module.replace = die  # the temporary copy is complete, the rename never comes
        CliRunner().invoke(cli, ["undo", str(root / "p0.jpg"), "--db", str(db)])

    assert killed_in_child(undo_then_die_before_rename)
    assert [n for n in os.listdir(root) if TEMP_MARK in n]
    result = run("undo", str(root), "--db", str(db))
    assert "Undo: 3 restored" in result.output, result.output
    assert not [n for n in os.listdir(root) if TEMP_MARK in n], "the killed undo's temporary copy is left"
    assert {p: p.read_bytes() for p in originals} == originals


# --- 2. an edit landing between read and rename -----------------------------------------


def test_an_edit_between_read_and_rename_is_kept_and_that_file_refused(tmp_path, tiny_model, monkeypatch):
    root, db, _ = library(tmp_path, tiny_model, 2)
    photo = root / "p0.jpg"
    real_write_temp = writeback.write_temp

    def another_program_edits_meanwhile(target, data, like, mtime):  # type: ignore[no-untyped-def]
        temp = real_write_temp(target, data, like, mtime)
        if target == str(photo):  # same size, same mtime: only the content tells
            edited = bytearray(photo.read_bytes())
            edited[-3] ^= 0xFF
            info = photo.stat()
            photo.write_bytes(bytes(edited))
            edits.append(bytes(edited))
            os.utime(photo, ns=(info.st_atime_ns, info.st_mtime_ns))
        return temp

    edits: list[bytes] = []
    monkeypatch.setattr(writeback, "write_temp", another_program_edits_meanwhile)
    result = run("write", str(root), "--db", str(db), "--min-confidence", "0")
    assert f"error: {photo}: it changed while phototag was writing; nothing was written, scan it again" in result.output
    assert "Write: 1 written, 0 held back, 1 failed" in result.output, result.output
    assert photo.read_bytes() == edits[0], "the other program's edit was lost"
    assert [w["path"] for w in query(db, "SELECT path FROM writes")] == [str(root / "p1.jpg")]
    assert not [n for n in os.listdir(root) if TEMP_MARK in n]


# --- 3. a rescan keeps the written flags -------------------------------------------------


def test_a_scan_saving_rows_read_before_a_write_keeps_the_written_flags(tmp_path, tiny_model, monkeypatch):
    root, db, originals = library(tmp_path, tiny_model, 4)
    real_save = Store.save
    state = {"ran": False}

    def write_lands_between_read_and_save(self, records):  # type: ignore[no-untyped-def]
        if not state["ran"]:  # scan --force read every file; `write` now runs beside it
            state["ran"] = True
            write_all(root, db)
        real_save(self, records)

    monkeypatch.setattr(Store, "save", write_lands_between_read_and_save)
    assert run("scan", str(root), "--db", str(db), "--model", str(tiny_model), "--workers", "1", "--force").exit_code == 0
    monkeypatch.setattr(Store, "save", real_save)
    rows = query(db, "SELECT path, written, size FROM photos")
    assert all(r["written"] == 1 for r in rows), rows
    assert all(r["size"] == os.path.getsize(r["path"]) for r in rows), "a stale size came back"
    later = run("scan", str(root), "--db", str(db), "--model", str(tiny_model), "--workers", "1", "--force")
    assert later.exit_code == 0
    assert all(r["written"] == 1 for r in query(db, "SELECT written FROM photos"))
    report = run("report", "--db", str(db), "--format", "json")
    assert '"written": 4' in report.output, report.output


# --- 4. undo per file; database failures in one line ---------------------------------------


def test_one_damaged_undo_record_fails_that_file_only(tmp_path, tiny_model):
    root, db, originals = library(tmp_path, tiny_model)
    write_all(root, db)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE writes SET undo_blob = X'00112233' WHERE path LIKE '%p1.jpg'")
    conn.commit()
    conn.close()
    result = run("undo", str(root), "--db", str(db))
    assert result.exit_code == 0
    assert "Undo: 2 restored, 0 refused (changed since written), 1 failed" in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert errors == [f"error: {root / 'p1.jpg'}: its undo record is damaged (error); the file was left as it is"]
    for path, original in originals.items():
        assert (path.read_bytes() == original) is (path.name != "p1.jpg")


def test_a_database_on_a_full_disk_is_one_line_not_a_traceback(tmp_path, tiny_model):
    root, db, _ = library(tmp_path, tiny_model, 12)
    # the photos and the database's 32 KiB shared-memory file fit; its growing write-ahead log not
    limit = max(36 * 1024, max(os.path.getsize(p) for p in root.iterdir()) + 4096)

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ, "PHOTOTAG_HOME": str(tmp_path / "h")}
    done = subprocess.run([sys.executable, "-m", "photo_tagger", "write", "--db", str(db), "--min-confidence", "0"],
                          capture_output=True, text=True, env=env, preexec_fn=limited, timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith(f"Error: the database {db} failed: the disk"), done.stderr
    assert "written" not in done.stdout  # no summary claims what the database could not record
    assert not [n for n in os.listdir(root) if TEMP_MARK in n]
    settled = run("write", "--db", str(db), "--min-confidence", "0")  # space again: the rest is written
    assert settled.exit_code == 0 and "0 failed" in settled.output
    assert len(query(db, "SELECT id FROM writes WHERE state = 'done'")) == 12


def test_a_damaged_database_is_one_line(tmp_path, tiny_model):
    root, db, _ = library(tmp_path, tiny_model)
    write_all(root, db)
    data = bytearray(db.read_bytes())
    page = 4096
    data[2 * page:] = b"\xde\xad" * ((len(data) - 2 * page) // 2)
    db.write_bytes(bytes(data))
    result = CliRunner().invoke(cli, ["undo", str(root), "--db", str(db)])
    assert result.exit_code == 1 and not isinstance(result.exception, sqlite3.Error), result.exception
    assert "Error: the database" in result.output and len(result.output.strip().splitlines()) == 1, result.output


# --- 5. what --db may point at ------------------------------------------------------------


def test_an_empty_or_foreign_file_is_refused_and_left_as_it_was(tmp_path):
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    result = CliRunner().invoke(cli, ["report", "--db", str(empty)])
    assert result.exit_code == 1 and "is an empty file, not a phototag database" in result.output, result.output
    assert empty.read_bytes() == b""
    text = tmp_path / "notes.db"
    text.write_text("shopping list\n")
    result = CliRunner().invoke(cli, ["report", "--db", str(text)])
    assert result.exit_code == 1 and "not an SQLite file" in result.output
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE contacts (name TEXT)")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    result = CliRunner().invoke(cli, ["report", "--db", str(other)])
    assert result.exit_code == 1 and "another program's SQLite database" in result.output, result.output
    assert other.read_bytes() == before, "the other program's database was changed (WAL mode?)"
    assert not Path(f"{other}-wal").exists()
    fresh = CliRunner().invoke(cli, ["report", "--db", str(tmp_path / "new.db")])
    assert fresh.exit_code == 0, fresh.output


def test_a_database_deleted_during_write_is_reported_not_claimed(tmp_path, tiny_model, monkeypatch):
    root, db, _ = library(tmp_path, tiny_model)
    real_commit = writeback.FileWriter.commit

    def commit_then_lose_the_database(self, job, keep_mtime):  # type: ignore[no-untyped-def]
        real_commit(self, job, keep_mtime)
        for name in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            name.unlink(missing_ok=True)

    monkeypatch.setattr(writeback.FileWriter, "commit", commit_then_lose_the_database)
    result = CliRunner().invoke(cli, ["write", str(root), "--db", str(db), "--min-confidence", "0"])
    assert result.exit_code == 1, result.output
    assert "was deleted or replaced while phototag ran" in result.output
    assert "restores them" not in result.output


# --- 6. kills at every step of write and undo ---------------------------------------------


def test_kills_between_every_step_pair_leave_files_and_database_in_agreement(tmp_path):
    from kill_bench import kill_many

    result = kill_many(tmp_path, 200, photos=4, seed=7)
    by_step = result["by_step"]
    from photo_tagger.faults import STEPS
    assert all(by_step.get(step, 0) >= 1 for step in STEPS), by_step  # every gap between two steps was hit
    assert result["kills"] >= 200 and result["restored"] == 4


# --- 7. a change the size and mtime do not show ---------------------------------------------

SHARED = ROOT.parent / "shared" / "data"
# Canon EOS 5D Mark III; IFD0 Software "Adobe Photoshop Lightroom Classic 8.4.1 (Windows)"
REAL_JPEG = SHARED / "portfolio" / "liamdalyphotos+liamdalyphotos.github.io" / "0809.jpg"
LENS_TAGS = ("Exif.Photo.FNumber", "Exif.Photo.FocalLength", "Exif.Photo.ApertureValue",
             "Exif.Photo.MaxApertureValue", "Exif.Photo.LensModel", "Exif.Photo.LensSpecification",
             "Exif.Photo.LensSerialNumber")
CHANGED = "the file changed since it was scanned (scan it again)"


def manual_copy(dest: Path) -> Path:
    """REAL_JPEG without its lens's records, so the scan estimates it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REAL_JPEG, dest)  # not its mode: shared/ is read-only
    with pyexiv2.Image(str(dest)) as image:
        image.modify_exif({tag: None for tag in LENS_TAGS})
    return dest


@pytest.mark.skipif(not REAL_JPEG.is_file(), reason="needs ../shared/data")
def test_a_file_changed_with_the_same_size_and_mtime_is_held_back(tmp_path, tiny_model):
    root, db = tmp_path / "lib", tmp_path / "t.db"
    edited, kept = manual_copy(root / "edited.jpg"), manual_copy(root / "kept.jpg")
    assert run("scan", str(root), "--db", str(db), "--model", str(tiny_model), "--workers", "1").exit_code == 0
    data = bytearray(edited.read_bytes())
    at = data.find(b"(Windows)")  # inside the EXIF block's Software text, same length after
    assert 0 < at < 1024, at
    data[at + 1] = ord("w")
    info = edited.stat()
    edited.write_bytes(bytes(data))
    os.utime(edited, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert (edited.stat().st_size, edited.stat().st_mtime_ns) == (info.st_size, info.st_mtime_ns)
    result = run("write", "--db", str(db), "--min-confidence", "0")
    assert f"Write: 1 written, 1 held back ({CHANGED}), 0 failed" in result.output, result.output
    assert edited.read_bytes() == bytes(data), "a file changed since the scan was written over"
    assert pyexiv2.ImageData(kept.read_bytes()).read_exif().get("Exif.Photo.FNumber")  # the other one was
    report = json.loads(run("report", "--db", str(db), "--format", "json").output)
    assert report["writes"]["not_written"] == {CHANGED: 1}, report["writes"]
    rescanned = run("scan", str(root), "--db", str(db), "--model", str(tiny_model), "--workers", "1", "--force")
    assert rescanned.exit_code == 0
    again = run("write", "--db", str(db), "--min-confidence", "0")
    assert "Write: 1 written, 0 held back, 1 already written, 0 failed" in again.output, again.output


def test_written_undone_and_rescanned_photos_are_written_again(tmp_path, tiny_model):
    """phototag's own changes keep the stored content hash in step: no false 'changed'."""
    root, db, originals = library(tmp_path, tiny_model, 2)
    write_all(root, db)
    forced = run("scan", str(root), "--db", str(db), "--model", str(tiny_model), "--workers", "1", "--force")
    assert forced.exit_code == 0
    assert "Undo: 2 restored" in run("undo", str(root), "--db", str(db)).output
    assert {p: p.read_bytes() for p in originals} == originals
    again = run("write", str(root), "--db", str(db), "--min-confidence", "0")
    assert "Write: 2 written, 0 held back, 0 failed" in again.output, again.output
    hashes = {r["path"]: r["content_hash"] for r in query(db, "SELECT path, content_hash FROM photos")}
    assert hashes == {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in originals}


# --- 8. every command's next run settles what a killed one left ------------------------------


def killed_cli(fault: str, *args: str) -> None:
    """The real CLI in a child process that SIGKILLs itself at a step (faults.py)."""
    env = {**os.environ, FAULT_ENV: fault}
    done = subprocess.run([sys.executable, "-m", "photo_tagger", *args], capture_output=True, env=env, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr


def written_on_disk(originals: dict[Path, bytes]) -> int:
    return sum(path.read_bytes() != original for path, original in originals.items())


def test_report_right_after_a_killed_write_agrees_with_the_files(tmp_path, tiny_model):
    root, db, originals = library(tmp_path, tiny_model)
    killed_cli("write:renamed:2", "write", str(root), "--db", str(db), "--min-confidence", "0")
    assert written_on_disk(originals) == 2
    report = json.loads(run("report", "--db", str(db), "--format", "json").output)
    assert report["writes"]["written"] == report["writes"]["into_files"] == 2, report["writes"]
    assert query(db, "SELECT COUNT(*) AS n FROM writes WHERE state != 'done'") == [{"n": 0}]


def test_scan_right_after_a_killed_write_settles_it_first(tmp_path, tiny_model):
    root, db, originals = library(tmp_path, tiny_model)
    killed_cli("write:renamed", "write", str(root), "--db", str(db), "--min-confidence", "0")
    scanned = run("scan", str(root), "--db", str(db), "--model", str(tiny_model), "--workers", "1")
    assert "3 unchanged (skipped)" in scanned.output, scanned.output  # the write is phototag's own
    assert query(db, "SELECT COUNT(*) AS n FROM writes WHERE state != 'done'") == [{"n": 0}]
    assert query(db, "SELECT COUNT(*) AS n FROM photos WHERE written = 1") == [{"n": written_on_disk(originals)}]


# --- 9. a killed write through a link leaves no temporary copy --------------------------------


def test_a_write_through_a_link_killed_leaves_no_temporary_copy_in_the_targets_folder(tmp_path, tiny_model):
    root, db = tmp_path / "lib", tmp_path / "t.db"
    target = make_photo(root / "originals" / "real.jpg", exif=camera_exif(None, None), seed=1)
    link = root / "album" / "link.jpg"
    link.parent.mkdir(parents=True)
    link.symlink_to(Path("..") / "originals" / "real.jpg")
    assert run("scan", str(root), "--db", str(db), "--model", str(tiny_model), "--workers", "1").exit_code == 0
    killed_cli("write:temp", "write", str(root / "album"), "--db", str(db), "--min-confidence", "0")
    assert [n for n in os.listdir(target.parent) if TEMP_MARK in n]
    result = run("write", str(root / "album"), "--db", str(db), "--min-confidence", "0")
    assert "Write: 1 written, 0 held back, 0 failed" in result.output, result.output
    assert not [n for n in os.listdir(target.parent) if TEMP_MARK in n], "the killed write's temporary copy is left"
    assert link.is_symlink() and "Exif.Photo.FNumber" in pyexiv2.ImageData(target.read_bytes()).read_exif()
