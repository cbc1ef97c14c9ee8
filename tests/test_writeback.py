"""Writing estimates into photos: what is written, what never is, dry run, sidecars, undo.

Everything goes through the real CLI on real files; tags are read back from the files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from fractions import Fraction
from pathlib import Path

import pyexiv2
import pytest
from click.testing import CliRunner

from photo_tagger.cli import cli
from photo_tagger.errors import MetadataWriteError
from photo_tagger.plan import choose
from photo_tagger.tagio import jpeg_image_offset, modify, verify
from photo_tagger.trainer.harvest import harvest
from helpers import rows as db_rows, run, writes
from photos import camera_exif, make_photo

EXIFTOOL = shutil.which("exiftool")


def scan(root: Path, model: Path, db: Path, *extra: str):
    return run("scan", str(root), "--db", str(db), "--model", str(model), "--workers", "1", *extra)


def tags(path: Path | str) -> tuple[dict[str, str], dict[str, object]]:
    with open(path, "rb") as handle, pyexiv2.ImageData(handle.read()) as image:
        return image.read_exif(), image.read_xmp()


def digest(path: Path | str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def snapshot(root: Path) -> dict[str, tuple[str, int, int]]:
    """Hash, mtime and mode of every file under root (names as bytes: some are not UTF-8)."""
    found = {}
    for folder, _, names in os.walk(os.fsencode(root)):
        for name in names:
            path = os.path.join(folder, name)
            info = os.stat(path)
            found[os.fsdecode(path)] = (digest(path), info.st_mtime_ns, info.st_mode)
    return found


@pytest.fixture
def personal(tmp_path: Path) -> Path:
    """Manual-lens photos carrying what belongs to the user: a description, a comment,
    a Canon maker note; one JPEG, PNG, TIFF, WebP, a non-UTF-8 name, plus a Sony body
    that recorded a focal length (set on the body) but no aperture."""
    root = tmp_path / "personal"
    extra = {
        "Exif.Image.ImageDescription": "Grandma's garden",
        "Exif.Photo.UserComment": "charset=Ascii shot on a Helios 44",
        "Exif.Canon.OwnerName": "Jane",
        "Exif.Canon.SerialNumber": "12345",
    }
    make_photo(root / "garden.jpg", exif={**camera_exif(None, None), **extra}, seed=1)
    make_photo(root / "scan.png", exif=camera_exif(None, None), seed=2)
    make_photo(root / "print.tif", exif=camera_exif(None, None), seed=3, fmt="TIFF")
    make_photo(root / "web.webp", exif=camera_exif(None, None), seed=4)
    make_photo(root / "body-focal.jpg", exif=camera_exif(None, 35.0, make="SONY", model="ILCE-7M3"), seed=5)
    make_photo(root / "af.jpg", exif=camera_exif(4.0, 85.0), seed=6)
    odd = os.fsencode(str(root)) + b"/caf\xe9.jpg"
    os.rename(make_photo(root / "odd.tmp.jpg", exif=camera_exif(None, None), seed=7), os.fsdecode(odd))
    (root / "garden.jpg").chmod(0o640)
    return root


def test_write_exif_writes_estimates_marks_them_and_keeps_everything_else(personal, tiny_model, tmp_path):
    db = tmp_path / "t.db"
    before = snapshot(personal)
    old_exif = {p: tags(p)[0] for p in before}
    result = scan(personal, tiny_model, db, "--write-exif", "--min-confidence", "0")
    assert result.exit_code == 0, result.output
    assert "Write: 6 written, 0 held back, 0 failed" in result.output, result.output
    rows = db_rows(db)
    after = snapshot(personal)
    for path, (hash_before, mtime_before, mode_before) in before.items():
        name = Path(path).name
        hash_after, mtime_after, mode_after = after[path]
        if name == "af.jpg":  # complete lens EXIF: never touched
            assert hash_after == hash_before
            continue
        assert hash_after != hash_before, name
        assert (mtime_after, mode_after) == (mtime_before, mode_before), f"{name}: mtime or mode not kept"
        exif, xmp = tags(path)
        row = rows[os.fsencode(name).decode("utf-8", "backslashreplace")]
        assert row["written"] == 1 and row["size"] == os.path.getsize(path) and row["mtime_ns"] == mtime_after
        # the values meant, as exact rationals, in EXIF and XMP
        assert Fraction(exif["Exif.Photo.FNumber"]) == Fraction(round(row["fnumber"] * 10), 10)
        assert Fraction(str(xmp["Xmp.exif.FNumber"])) == Fraction(exif["Exif.Photo.FNumber"])
        assert xmp["Xmp.phototag.Estimated"] == "True"
        assert xmp["Xmp.phototag.ModelVersion"] == "tiny-1"
        assert float(xmp["Xmp.phototag.FNumberConfidence"]) == pytest.approx(row["fnumber_confidence"], abs=0.005)
        if name == "body-focal.jpg":  # the body's own focal length stays; only FNumber is estimated
            assert exif["Exif.Photo.FocalLength"] == "350/10"
            assert xmp["Xmp.phototag.EstimatedTags"] == "FNumber"
            assert "Xmp.exif.FocalLength" not in xmp
        else:
            assert Fraction(exif["Exif.Photo.FocalLength"]) == Fraction(round(row["focal_length"] * 10), 10)
            assert exif["Exif.Photo.FocalLengthIn35mmFilm"] == str(round(row["focal_length_35mm"]))
            assert xmp["Xmp.phototag.EstimatedTags"] == "FNumber,FocalLength,FocalLengthIn35mmFilm"
        # every other tag, maker notes included, reads back unchanged
        for key, value in old_exif[path].items():
            if key.startswith("Exif.Photo.Focal") or key in ("Exif.Image.ExifTag", "Exif.MakerNote.Offset",
                                                               "Exif.Photo.MakerNote", "Exif.Image.StripOffsets"):
                continue
            assert exif.get(key) == value, f"{name}: {key} changed"
    garden = tags(personal / "garden.jpg")[0]
    assert garden["Exif.Image.ImageDescription"] == "Grandma's garden"
    assert garden["Exif.Canon.OwnerName"] == "Jane" and garden["Exif.Canon.SerialNumber"] == "12345"
    assert len(writes(db)) == 6 and all(w["state"] == "done" for w in writes(db))
    # a second scan sees phototag's own change as no change; a second write has nothing to do
    again = scan(personal, tiny_model, db, "--write-exif")
    assert "7 unchanged" in again.output and "6 already written" in again.output


def test_image_data_is_byte_identical_after_writing(tmp_path, tiny_model):
    photo = make_photo(tmp_path / "lib" / "a.jpg", size=(320, 240), exif=camera_exif(None, None), seed=3)
    original = photo.read_bytes()
    assert scan(tmp_path / "lib", tiny_model, tmp_path / "t.db", "--write-exif", "--min-confidence", "0").exit_code == 0
    new = photo.read_bytes()
    assert new != original
    assert new[jpeg_image_offset(new):] == original[jpeg_image_offset(original):]


def test_confidence_threshold_holds_back_and_report_says_why(library, tiny_model, tmp_path):
    db = tmp_path / "t.db"
    before = snapshot(library)
    result = scan(library, tiny_model, db, "--write-exif", "--min-confidence", "1")
    assert result.exit_code == 0
    assert "Write: 0 written, 3 held back (confidence below 1), 0 failed" in result.output
    assert snapshot(library) == before
    report = json.loads(run("report", "--db", str(db), "--format", "json").output)
    assert report["writes"]["written"] == 0
    assert report["writes"]["not_written"] == {"confidence below 1": 3}
    table = run("report", "--db", str(db)).output
    assert "held back: 3 confidence below 1" in table


def test_fnumber_and_focal_length_are_judged_separately(library, tiny_model, tmp_path):
    db = tmp_path / "t.db"
    scan(library, tiny_model, db)
    rows = db_rows(db)
    a = rows["a.jpg"]
    # a threshold between the two confidences writes exactly the more confident value
    low, high = sorted((a["fnumber_confidence"], a["focal_length_confidence"]))
    assert low < high
    result = run("write", str(library / "manual" / "a.jpg"), "--db", str(db), "--min-confidence", str((low + high) / 2))
    assert "Write: 1 written" in result.output, result.output
    exif, xmp = tags(library / "manual" / "a.jpg")
    fnumber_won = a["fnumber_confidence"] == high
    assert ("Exif.Photo.FNumber" in exif) is fnumber_won
    assert ("Exif.Photo.FocalLength" in exif) is not fnumber_won
    assert xmp["Xmp.phototag.EstimatedTags"] == ("FNumber" if fnumber_won else "FocalLength,FocalLengthIn35mmFilm")
    # the summary says which value stayed out, and why
    below = f"(not: 1 confidence below {(low + high) / 2:g})"
    expected = f"FNumber 1, focal length 0 {below}" if fnumber_won else f"FNumber 0 {below}, focal length 1"
    assert f"Values written: {expected}\n" in result.output, result.output


def test_dry_run_checks_everything_and_writes_nothing(library, tiny_model, tmp_path):
    db = tmp_path / "t.db"
    before = snapshot(library)
    result = scan(library, tiny_model, db, "--write-exif", "--min-confidence", "0", "--dry-run")
    assert result.exit_code == 0
    assert "Write (dry run): 3 would be written" in result.output
    assert "Values that would be written: FNumber 3, focal length 2 (not: 1 the file records its own)" in result.output
    assert result.output.count("would write: ") == 3 and "FNumber=" in result.output
    assert snapshot(library) == before
    assert writes(db) == [] and all(r["written"] == 0 and r["write_note"] is None for r in db_rows(db).values())


def test_write_options_need_write_exif(library, tiny_model, tmp_path):
    for option in (["--dry-run"], ["--sidecar"], ["--min-confidence", "0.3"], ["--no-keep-mtime"]):
        result = CliRunner().invoke(cli, ["scan", str(library), "--db", str(tmp_path / "t.db"), "--model", str(tiny_model), *option])
        assert result.exit_code == 2 and "only apply with --write-exif" in result.output


def test_write_applies_stored_estimates_without_predicting(library, tiny_model, tmp_path):
    db = tmp_path / "t.db"
    scan(library, tiny_model, db)
    result = CliRunner().invoke(cli, ["write", "--db", str(db), "--min-confidence", "0"], catch_exceptions=False)
    assert result.exit_code == 0 and "Write: 3 written, 0 held back, 0 failed" in result.output
    assert "model" not in result.output  # no model was loaded
    conn = sqlite3.connect(db)
    assert [c for (c,) in conn.execute("SELECT command FROM runs ORDER BY id")] == ["scan", "write"]
    conn.close()


def test_no_keep_mtime_lets_the_mtime_change(tmp_path, tiny_model):
    photo = make_photo(tmp_path / "lib" / "a.jpg", exif=camera_exif(None, None), seed=3)
    os.utime(photo, ns=(10**18, 10**18))
    scan(tmp_path / "lib", tiny_model, tmp_path / "t.db", "--write-exif", "--min-confidence", "0", "--no-keep-mtime")
    assert "Exif.Photo.FNumber" in tags(photo)[0]
    assert photo.stat().st_mtime_ns != 10**18


def test_round_trip_write_then_undo_is_byte_identical(personal, tiny_model, tmp_path):
    db = tmp_path / "t.db"
    before = snapshot(personal)
    result = scan(personal, tiny_model, db, "--write-exif", "--min-confidence", "0")
    assert "6 written" in result.output
    run_id = writes(db)[0]["run_id"]
    assert {w["undo_kind"] for w in writes(db)} == {"jpeg_prefix", "whole"}
    undone = run("undo", "--db", str(db), "--run", str(run_id))
    assert undone.exit_code == 0 and "Undo: 6 restored, 0 refused" in undone.output, undone.output
    assert snapshot(personal) == before  # bytes, mtime and mode
    assert all(r["written"] == 0 for r in db_rows(db).values())
    # and it can be written again, then undone by path
    assert "6 written" in run("write", "--db", str(db), "--min-confidence", "0").output
    assert "Undo: 6 restored" in run("undo", str(personal), "--db", str(db)).output
    assert snapshot(personal) == before


def test_undo_refuses_a_file_edited_after_the_write(library, tiny_model, tmp_path):
    db = tmp_path / "t.db"
    scan(library, tiny_model, db, "--write-exif", "--min-confidence", "0")
    photo = library / "manual" / "a.jpg"
    with pyexiv2.Image(str(photo)) as image:  # the user edits it in another program
        image.modify_exif({"Exif.Image.Artist": "Jane"})
    edited = digest(photo)
    result = CliRunner().invoke(cli, ["undo", str(photo), "--db", str(db)])
    assert result.exit_code == 1
    assert "changed since phototag wrote it" in result.output and "Undo: 0 restored, 1 refused" in result.output
    assert digest(photo) == edited
    # the other photos of the run are still undone
    result = run("undo", "--db", str(db), "--run", str(writes(db)[0]["run_id"]))
    assert "Undo: 2 restored, 1 refused" in result.output


def test_undo_by_tag_values_when_the_original_was_too_big_to_keep(tmp_path, tiny_model, monkeypatch):
    import photo_tagger.tagio as tagio

    monkeypatch.setattr(tagio, "WHOLE_FILE_UNDO_LIMIT", 0)
    photo = make_photo(tmp_path / "lib" / "a.png", exif=camera_exif(None, None), seed=3)
    db = tmp_path / "t.db"
    scan(tmp_path / "lib", tiny_model, db, "--write-exif", "--min-confidence", "0")
    assert writes(db)[0]["undo_kind"] == "tags"
    result = run("undo", str(photo), "--db", str(db))
    assert "1 by rewriting tag values, not byte for byte" in result.output
    exif, xmp = tags(photo)
    assert "Exif.Photo.FNumber" not in exif and "Exif.Photo.FocalLength" not in exif
    assert not any(key.startswith("Xmp.phototag.") or key.startswith("Xmp.exif.F") for key in xmp)
    assert exif["Exif.Image.Model"] == "Canon EOS 5D Mark II"


def test_sidecar_leaves_photos_alone_and_undo_removes_it(library, tiny_model, tmp_path):
    db = tmp_path / "t.db"
    before = snapshot(library)
    # Lightroom already holds an aperture for b.jpg in its own sidecar form (photo.xmp)
    lightroom = library / "manual" / "b.xmp"
    lightroom.write_bytes(modify(_empty_packet(), {}, {"Xmp.exif.FNumber": "56/10"}))
    lightroom_before = snapshot(library)[str(lightroom)]
    result = scan(library, tiny_model, db, "--write-exif", "--sidecar", "--min-confidence", "0")
    assert "Write: 3 written (3 into XMP sidecars), 0 held back, 0 failed" in result.output, result.output
    after = snapshot(library)
    assert {p: v for p, v in after.items() if p in before} == before  # no photo touched
    side = tags(library / "manual" / "a.jpg.xmp")[1]
    assert side["Xmp.phototag.Estimated"] == "True" and "Xmp.exif.FNumber" in side and "Xmp.exif.FocalLength" in side
    # the Lightroom sidecar is updated, never doubled by a b.jpg.xmp that would disagree with it
    assert not (library / "manual" / "b.jpg.xmp").exists()
    b_side = tags(lightroom)[1]
    assert b_side["Xmp.exif.FNumber"] == "56/10" and "Xmp.exif.FocalLength" in b_side
    assert run("undo", str(library), "--db", str(db)).exit_code == 0
    assert snapshot(library) == {**before, str(lightroom): lightroom_before}, "restored byte for byte"
    assert not (library / "manual" / "a.jpg.xmp").exists()


def test_an_existing_sidecar_is_updated_and_restored_byte_for_byte(tmp_path, tiny_model):
    photo = make_photo(tmp_path / "lib" / "a.jpg", exif=camera_exif(None, None), seed=3)
    side = Path(str(photo) + ".xmp")
    side.write_bytes(modify(_empty_packet(), {}, {"Xmp.dc.subject": ["holiday"]}))
    original = side.read_bytes()
    db = tmp_path / "t.db"
    assert "1 written" in scan(tmp_path / "lib", tiny_model, db, "--write-exif", "--sidecar", "--min-confidence", "0").output
    xmp = tags(side)[1]
    assert xmp["Xmp.dc.subject"] == ["holiday"] and "Xmp.exif.FNumber" in xmp
    run("undo", str(photo), "--db", str(db))
    assert side.read_bytes() == original


def test_verify_catches_values_pyexiv2_would_mangle(tmp_path):
    photo = make_photo(tmp_path / "a.jpg", exif=camera_exif(None, None))
    data = photo.read_bytes()
    for wrong in ("2.8", "F2.8"):  # pyexiv2 writes an empty value and 2.97 for these
        with pytest.raises(MetadataWriteError, match="read back as"):
            verify(data, modify(data, {"Exif.Photo.FNumber": wrong}, {}), {"Exif.Photo.FNumber": "28/10"}, {}, str(photo))
    with pytest.raises(MetadataWriteError, match="would have changed Exif.Image.Model"):
        verify(data, modify(data, {"Exif.Image.Model": "X"}, {}), {}, {}, str(photo))


@pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed (apt-get install libimage-exiftool-perl)")
def test_exiftool_finds_no_new_warnings_and_reads_the_values(personal, tiny_model, tmp_path):
    db = tmp_path / "t.db"
    files = [p for p in snapshot(personal) if not p.endswith("af.jpg")]
    warnings_before = {p: _exiftool_warnings(p) for p in files}
    scan(personal, tiny_model, db, "--write-exif", "--min-confidence", "0")
    rows = db_rows(db)
    for path in files:
        assert _exiftool_warnings(path) <= warnings_before[path], path
        found = json.loads(subprocess.run([EXIFTOOL, "-j", "-n", "-FNumber", "-FocalLength", "-XMP-phototag:all", path],
                                          capture_output=True, check=True).stdout)[0]
        row = rows[os.fsencode(Path(path).name).decode("utf-8", "backslashreplace")]
        # in tenths, as the writer's rationals hold them (4.55 is 46/10, where round(4.55, 1) is 4.5)
        assert found["FNumber"] == pytest.approx(round(row["fnumber"] * 10) / 10)
        if not path.endswith("body-focal.jpg"):
            assert found["FocalLength"] == pytest.approx(round(row["focal_length"] * 10) / 10)
        assert str(found["Estimated"]) == "True"


def _exiftool_warnings(path: str) -> set[str]:
    done = subprocess.run([EXIFTOOL, "-validate", "-warning", "-a", "-s", "-s", "-s", path], capture_output=True)
    return {line for line in done.stdout.decode(errors="replace").splitlines() if line and not line[0].isdigit() and line != "OK"}


def _empty_packet() -> bytes:
    from photo_tagger.xmp import EMPTY_PACKET

    return EMPTY_PACKET


def test_a_rescan_or_train_never_mistakes_phototags_own_estimates_for_camera_exif(tmp_path, tiny_model):
    photo = make_photo(tmp_path / "lib" / "manual.jpg", exif=camera_exif(None, None), seed=2)
    db = tmp_path / "t.db"
    scan(tmp_path / "lib", tiny_model, db, "--write-exif", "--min-confidence", "0")
    with pyexiv2.Image(str(photo)) as image:
        written = image.read_exif()
        assert written.get("Exif.Photo.FNumber") and written.get("Exif.Photo.FocalLength"), "the estimates were written"
    forced = run("scan", str(tmp_path / "lib"), "--db", str(db), "--model", str(tiny_model), "--workers", "1", "--force")
    assert "0 already had lens EXIF, 1 predicted" in forced.output
    row = sqlite3.connect(db).execute("SELECT status, exif_fnumber, exif_focal_length FROM photos").fetchone()
    assert row == ("predicted", None, None)
    # nor does `phototag train`: a model never learns from its own estimates
    found = harvest([tmp_path / "lib"], workers=1)
    assert (len(found.photos), len(found.partial), found.unlabeled) == (0, 0, 1)


def test_writing_the_same_estimates_again_changes_nothing(tmp_path, tiny_model):
    lib = tmp_path / "lib"
    make_photo(lib / "a.jpg", exif=camera_exif(None, None), seed=2)
    make_photo(lib / "b.png", exif=camera_exif(None, None), seed=3)
    db = tmp_path / "t.db"
    scan(lib, tiny_model, db, "--write-exif", "--min-confidence", "0")
    after_first = {p.name: p.read_bytes() for p in lib.iterdir()}
    # a forced rescan predicts the same values again (the written ones count as absent) ...
    scan(lib, tiny_model, db, "--force")
    again = run("write", "--db", str(db), "--min-confidence", "0")
    # ... and writing them a second time is recognised as done, not repeated
    assert "0 written" in again.output and "2 already written" in again.output, again.output
    assert {p.name: p.read_bytes() for p in lib.iterdir()} == after_first
    assert len(writes(db)) == 2


def test_write_says_which_values_went_into_the_photos(library, tiny_model, tmp_path):
    """A photo counted as written may carry its FNumber and not its focal length: the write
    line and the report say, per value, how many photos got it and why the rest did not."""
    db = tmp_path / "t.db"
    result = scan(library, tiny_model, db, "--write-exif", "--min-confidence", "0")
    assert "Write: 3 written" in result.output, result.output
    # what the files now carry, read back: phototag's own mark lists the estimated tags
    marked = [tags(p)[1].get("Xmp.phototag.EstimatedTags", "").split(",") for p in sorted(library.rglob("*.jpg"))]
    got = {name: sum(key in m for m in marked) for name, key in (("FNumber", "FNumber"), ("focal length", "FocalLength"))}
    assert got["FNumber"] == 3 and got["focal length"] == 2  # sony/zero.jpg records its own 35 mm
    line = next(x for x in result.output.splitlines() if x.startswith("Values written: "))
    assert line == "Values written: FNumber 3, focal length 2 (not: 1 the file records its own)", line
    report = json.loads(run("report", "--db", str(db), "--format", "json").output)
    assert report["writes"]["values"] == {"FNumber": 3, "focal length": 2, "lens": 0}
    assert "FNumber in 3, focal length in 2" in run("report", "--db", str(db)).output
    # undone, nothing carries an estimate any more
    assert run("undo", "--run", "1", "--db", str(db)).exit_code == 0
    report = json.loads(run("report", "--db", str(db), "--format", "json").output)
    assert report["writes"]["values"] == {"FNumber": 0, "focal length": 0, "lens": 0}


def test_focal_length_of_an_unknown_body_is_held_back_and_the_summary_says_why(tmp_path, tiny_model):
    """A body no source gives a crop factor for: its 35 mm-equivalent estimate cannot become
    real millimetres, so only the FNumber goes in, and the write line names the reason."""
    lib = tmp_path / "lib"
    photo = make_photo(lib / "scan.jpg", exif=camera_exif(None, None, make="Nobody", model="Homemade Box 1"), seed=7)
    db = tmp_path / "t.db"
    result = scan(lib, tiny_model, db, "--write-exif", "--min-confidence", "0")
    assert "Values written: FNumber 1, focal length 0 (not: 1 crop factor unknown)\n" in result.output, result.output
    exif, xmp = tags(photo)
    assert "Exif.Photo.FNumber" in exif and "Exif.Photo.FocalLength" not in exif
    assert xmp["Xmp.phototag.EstimatedTags"] == "FNumber"
    # a stored row whose FNumber misses the threshold and whose focal length lacks the crop
    # factor is held back with each value's own reason
    row = db_rows(db)["scan.jpg"]
    threshold = row["fnumber_confidence"] + 1e-6
    assert choose({**row, "focal_length_confidence": 1.0}, threshold) == (
        None, f"FNumber: confidence below {threshold:g}; focal length: crop factor unknown")
    assert choose(row, 1.01) == (None, "confidence below 1.01")  # one reason for both: said once
