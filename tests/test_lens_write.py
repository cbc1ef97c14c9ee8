"""Writing the declared lens: LensModel, LensMake, LensSpecification, their XMP forms, undo.

Real JPEG and TIFF files in tmp_path, the tiny ONNX model, the real CLI and SQLite file;
tags are read back from the files with pyexiv2 (and exiftool, where installed).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pyexiv2
import pytest

from photo_tagger.metadata import read_metadata
from photo_tagger.store import Store
from photo_tagger.tagio import modify
from photo_tagger.writeback import build_exif_job
from photo_tagger.xmp import Estimate, same_value
from helpers import rows as db_rows, run, wide_or_long
from photos import camera_exif, make_photo

EXIFTOOL = shutil.which("exiftool")
HELIOS = "KMZ Helios-44 58mm 1:2"
LENS_MARKS = "LensModel,LensMake,LensSpecification"
V0220 = "48 50 50 48"  # ExifVersion '0220' as pyexiv2 shows its four ASCII bytes
V0230 = "48 50 51 48"


def scan(root: Path, model: Path, db: Path, *extra: str):  # type: ignore[no-untyped-def]
    return run("scan", str(root), "--db", str(db), "--model", str(model), "--workers", "1", *extra)


def tags(path: Path | str) -> tuple[dict[str, str], dict[str, object]]:
    with open(path, "rb") as handle, pyexiv2.ImageData(handle.read()) as image:
        return image.read_exif(), image.read_xmp()


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    return {str(p): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def manual(tmp_path: Path) -> Path:
    """Manual-lens photos: a JPEG without ExifVersion, a JPEG and a TIFF declaring EXIF 2.2."""
    root = tmp_path / "roll"
    make_photo(root / "a.jpg", exif=camera_exif(None, None), seed=1)
    make_photo(root / "old.jpg", exif=camera_exif(None, None) | {"Exif.Photo.ExifVersion": V0220}, seed=2)
    make_photo(root / "print.tif", exif=camera_exif(None, None) | {"Exif.Photo.ExifVersion": V0220}, seed=3, fmt="TIFF")
    return root


def with_helios(db: Path) -> None:
    assert run("lens", "add", HELIOS, "--db", str(db)).exit_code == 0


def write_with_helios(root: Path, model: Path, db: Path, *extra: str):  # type: ignore[no-untyped-def]
    """Add the Helios to the lens book, then scan declaring it and write every estimate."""
    with_helios(db)
    return scan(root, model, db, "--lens", HELIOS, "--write-exif", "--min-confidence", "0", *extra)


# --- what is written ---------------------------------------------------------------------


def test_scan_with_a_prime_writes_the_lens_into_jpeg_and_tiff_marked_as_estimates(manual, tiny_model, tmp_path):
    db = tmp_path / "t.db"
    with_helios(db)
    result = scan(manual, tiny_model, db, "--lens", "helios-44", "--write-exif", "--min-confidence", "0")
    assert "Write: 3 written, 0 held back, 0 failed" in result.output, result.output
    assert "Values written: FNumber 3, focal length 3, lens 3\n" in result.output, result.output
    for name in ("a.jpg", "old.jpg", "print.tif"):
        exif, xmp = tags(manual / name)
        assert exif["Exif.Photo.LensModel"] == "Helios-44 58mm 1:2" and exif["Exif.Photo.LensMake"] == "KMZ"
        assert same_value(exif["Exif.Photo.LensSpecification"], "58/1 58/1 2/1 2/1")
        assert exif["Exif.Photo.FocalLength"] == "580/10"  # a prime's focal length is the lens's own
        assert xmp["Xmp.aux.Lens"] == HELIOS
        assert xmp["Xmp.exifEX.LensModel"] == "Helios-44 58mm 1:2" and xmp["Xmp.exifEX.LensMake"] == "KMZ"
        assert xmp["Xmp.exifEX.LensSpecification"] == ["58/1", "58/1", "2/1", "2/1"]  # an rdf:Seq
        assert xmp["Xmp.phototag.EstimatedTags"] == f"FNumber,FocalLength,FocalLengthIn35mmFilm,{LENS_MARKS}"
        assert xmp["Xmp.phototag.LensConfidence"] == "1.00"
    # EXIF 2.3 tags need ExifVersion 0230: raised where an older one was declared, never invented
    assert "Exif.Photo.ExifVersion" not in tags(manual / "a.jpg")[0]
    assert tags(manual / "old.jpg")[0]["Exif.Photo.ExifVersion"] == V0230
    assert tags(manual / "print.tif")[0]["Exif.Photo.ExifVersion"] == V0230


def test_a_zoom_and_a_lens_without_maker_or_aperture_leave_unknowns_as_0_0(tmp_path, tiny_model):
    db = tmp_path / "t.db"
    make_photo(tmp_path / "zoom" / "z.jpg", exif=camera_exif(None, None), seed=1)
    make_photo(tmp_path / "bare" / "b.jpg", exif=camera_exif(None, None), seed=2)
    run("lens", "add", "Vivitar Series 1", "--focal", "28-70", "--aperture", "3.5-22", "--maker", "Vivitar", "--db", str(db))
    run("lens", "add", "Mystery", "--focal", "50", "--db", str(db))
    scan(tmp_path / "zoom", tiny_model, db, "--lens", "vivitar series 1", "--write-exif", "--min-confidence", "0")
    scan(tmp_path / "bare", tiny_model, db, "--lens", "mystery", "--write-exif", "--min-confidence", "0")
    zoom, zoom_xmp = tags(tmp_path / "zoom" / "z.jpg")
    # the widest FNumber at 70 mm is not known: 0/0, as EXIF 2.3 says for an unknown minimum F number
    assert zoom["Exif.Photo.LensSpecification"] == "28/1 70/1 7/2 0/0"
    assert zoom["Exif.Photo.LensModel"] == "Series 1" and zoom["Exif.Photo.LensMake"] == "Vivitar"
    assert zoom_xmp["Xmp.aux.Lens"] == "Vivitar Series 1"
    bare, bare_xmp = tags(tmp_path / "bare" / "b.jpg")
    assert bare["Exif.Photo.LensSpecification"] == "50/1 50/1 0/0 0/0"
    assert "Exif.Photo.LensMake" not in bare and "Xmp.exifEX.LensMake" not in bare_xmp
    assert bare_xmp["Xmp.phototag.EstimatedTags"].endswith("LensModel,LensSpecification")


def test_dry_run_lists_the_lens_and_writes_nothing(manual, tiny_model, tmp_path):
    db = tmp_path / "t.db"
    before = snapshot(manual)
    result = write_with_helios(manual, tiny_model, db, "--dry-run")
    assert "Write (dry run): 3 would be written" in result.output, result.output
    assert "LensModel=Helios-44 58mm 1:2, LensMake=KMZ, LensSpecification=58/1 58/1 2/1 2/1" in result.output
    assert "ExifVersion=0230" in result.output
    assert snapshot(manual) == before


@pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed (apt-get install libimage-exiftool-perl)")
def test_exiftool_reads_the_lens_and_finds_no_new_warnings(manual, tiny_model, tmp_path):
    db = tmp_path / "t.db"
    with_helios(db)
    files = sorted(str(p) for p in manual.iterdir())
    before = {p: _exiftool_warnings(p) for p in files}
    # what a tool that leaves ExifVersion at 0220 gets: a warning for each EXIF 2.3 tag
    careless = tmp_path / "careless.jpg"
    careless.write_bytes(modify((manual / "old.jpg").read_bytes(), {"Exif.Photo.LensModel": "Helios-44"}, {}))
    assert "ExifIFD tag 0xa434 LensModel requires ExifVersion 0230 or higher" in _exiftool_warnings(str(careless))
    scan(manual, tiny_model, db, "--lens", HELIOS, "--write-exif", "--min-confidence", "0")
    for path in files:
        assert _exiftool_warnings(path) <= before[path], path
        found = json.loads(subprocess.run(
            [EXIFTOOL, "-j", "-n", "-a", "-G1", "-LensModel", "-LensMake", "-LensInfo", "-XMP-aux:Lens", path],
            capture_output=True, check=True).stdout)[0]
        assert found["ExifIFD:LensModel"] == "Helios-44 58mm 1:2" and found["ExifIFD:LensMake"] == "KMZ"
        assert found["ExifIFD:LensInfo"] == "58 58 2 2" and found["XMP-exifEX:LensInfo"] == "58 58 2 2"
        assert found["XMP-aux:Lens"] == HELIOS


def _exiftool_warnings(path: str) -> set[str]:
    done = subprocess.run([EXIFTOOL, "-validate", "-warning", "-a", "-s", "-s", "-s", path], capture_output=True)
    return {line for line in done.stdout.decode(errors="replace").splitlines() if line and not line[0].isdigit() and line != "OK"}


# --- what is never written ---------------------------------------------------------------


def test_a_lens_the_file_names_itself_is_kept(tmp_path, tiny_model):
    root = tmp_path / "roll"
    make_photo(root / "nocpu.jpg", exif=camera_exif(None, None) | {"Exif.Photo.LensModel": "Manual Lens No CPU"}, seed=1)
    spec_only = camera_exif(None, None) | {"Exif.Photo.LensSpecification": "50/1 50/1 14/10 14/10"}
    make_photo(root / "spec.jpg", exif=spec_only, seed=2)
    placeholder = camera_exif(None, None) | {"Exif.Photo.LensModel": "----", "Exif.Photo.LensSpecification": "0/0 0/0 0/0 0/0"}
    make_photo(root / "blank.jpg", exif=placeholder, seed=3)
    db = tmp_path / "t.db"
    result = write_with_helios(root, tiny_model, db)
    assert "Write: 3 written" in result.output, result.output
    for name, model, spec in (("nocpu.jpg", "Manual Lens No CPU", None), ("spec.jpg", None, "50/1 50/1 14/10 14/10")):
        exif, xmp = tags(root / name)
        assert exif.get("Exif.Photo.LensModel") == model and exif.get("Exif.Photo.LensSpecification") == spec
        assert "Exif.Photo.LensMake" not in exif and "Xmp.aux.Lens" not in xmp and "Xmp.exifEX.LensModel" not in xmp
        assert "Lens" not in xmp["Xmp.phototag.EstimatedTags"] and "Exif.Photo.FNumber" in exif
    # a camera's 'no lens information' placeholders are not a lens: the declared one is written
    blank = tags(root / "blank.jpg")[0]
    assert blank["Exif.Photo.LensModel"] == "Helios-44 58mm 1:2" and blank["Exif.Photo.LensSpecification"] == "58/1 58/1 2/1 2/1"
    # and a second write of the same estimates is recognised as done, the file's own lens no difference
    written = snapshot(root)
    again = scan(root, tiny_model, db, "--lens", HELIOS, "--force", "--write-exif", "--min-confidence", "0")
    assert "0 written" in again.output and "3 already written" in again.output, again.output
    assert snapshot(root) == written


def write_roll(tmp_path: Path, model: Path, records: dict[str, dict[str, str]]):  # type: ignore[no-untyped-def]
    """Photos without lens values, each with its own lens records (EXIF or XMP keys), then a
    scan that declares the Helios and writes every estimate."""
    root = tmp_path / "roll"
    for seed, (name, keys) in enumerate(records.items(), 1):
        exif = {k: v for k, v in keys.items() if k.startswith("Exif.")}
        photo = make_photo(root / name, exif=camera_exif(None, None) | exif, seed=seed)
        xmp = {k: v for k, v in keys.items() if k.startswith("Xmp.")}
        if xmp:
            photo.write_bytes(modify(photo.read_bytes(), {}, xmp))
    db = tmp_path / "t.db"
    return root, write_with_helios(root, model, db)


def test_a_lens_named_in_another_script_or_by_numbers_alone_is_kept(tmp_path, tiny_model):
    from photo_tagger.plan import lens_recorded

    root, result = write_roll(tmp_path, tiny_model, {"cyr.jpg": {"Exif.Photo.LensModel": "Юпитер-9"},
                                                     "zoom.jpg": {"Exif.Photo.LensModel": "28-70"},
                                                     "aux.jpg": {"Xmp.aux.Lens": "Гелиос-44М"}})
    assert "Write: 3 written" in result.output, result.output
    for name, model in (("cyr.jpg", "Юпитер-9"), ("zoom.jpg", "28-70"), ("aux.jpg", None)):
        exif, xmp = tags(root / name)
        assert exif.get("Exif.Photo.LensModel") == model, name
        assert "Exif.Photo.LensSpecification" not in exif and "Lens" not in xmp["Xmp.phototag.EstimatedTags"], name
    assert tags(root / "aux.jpg")[1]["Xmp.aux.Lens"] == "Гелиос-44М"
    for blank in ("----", "0/0 0/0 0/0 0/0", "0/1 0/1 0/1 0/1", " ", "0.0"):
        assert not lens_recorded({"Exif.Photo.LensModel": blank}, {}), blank
    for named in ("ニッコール", "Юпитер-9 85мм", "28-70", "135"):
        assert lens_recorded({"Exif.Photo.LensModel": named}, {}) and lens_recorded({}, {"Xmp.aux.Lens": named}), named


def test_a_lens_an_editor_recorded_in_xmp_aux_is_kept(tmp_path, tiny_model):
    """Lightroom keeps a lens it knows in Xmp.aux.LensInfo / LensID; a LensID of 0 says nothing."""
    root, result = write_roll(tmp_path, tiny_model, {"info.jpg": {"Xmp.aux.LensInfo": "58/1 58/1 2/1 2/1"},
                                                     "id.jpg": {"Xmp.aux.LensID": "163"},
                                                     "zero.jpg": {"Xmp.aux.LensID": "0"}})
    assert "Write: 3 written" in result.output, result.output
    for name in ("info.jpg", "id.jpg"):
        exif, xmp = tags(root / name)
        assert "Exif.Photo.FNumber" in exif, name  # the estimates still land
        assert "Exif.Photo.LensModel" not in exif and "Lens" not in xmp["Xmp.phototag.EstimatedTags"], name
    assert tags(root / "info.jpg")[1]["Xmp.aux.LensInfo"] == "58/1 58/1 2/1 2/1"
    assert "Helios" in tags(root / "zero.jpg")[0]["Exif.Photo.LensModel"]


def test_a_lens_recognised_from_the_bodys_own_lens_model_is_not_rewritten(tmp_path, tiny_model):
    exif = camera_exif(None, None, make="NIKON CORPORATION", model="NIKON Z 6") | {"Exif.Photo.LensModel": "Helios-44 58mm 1:2"}
    photo = make_photo(tmp_path / "roll" / "z.jpg", exif=exif, seed=1)
    db = tmp_path / "t.db"
    with_helios(db)
    assert "1 written" in scan(tmp_path / "roll", tiny_model, db, "--write-exif", "--min-confidence", "0").output
    assert db_rows(db)["z.jpg"]["lens_source"] == "exif"
    written, xmp = tags(photo)
    assert written["Exif.Photo.LensModel"] == "Helios-44 58mm 1:2" and "Exif.Photo.LensMake" not in written
    assert "Exif.Photo.LensSpecification" not in written and "Xmp.aux.Lens" not in xmp
    assert "Lens" not in xmp["Xmp.phototag.EstimatedTags"]


def test_the_lens_needs_min_confidence_like_the_other_values(tmp_path, tiny_model):
    make_photo(tmp_path / "roll" / "a.jpg", exif=camera_exif(None, None), seed=1)
    db = tmp_path / "t.db"
    wide_or_long(db, tmp_path / "roll")
    scan(tmp_path / "roll", tiny_model, db)
    row = db_rows(db)["a.jpg"]
    assert 0.0 < row["lens_confidence"] < 1.0
    photo = tmp_path / "roll" / "a.jpg"
    above = min(1.0, row["lens_confidence"] + 0.01)
    held = run("write", "--db", str(db), "--min-confidence", str(above))
    assert "Exif.Photo.LensModel" not in tags(photo)[0]
    if "1 written" in held.output:  # the FNumber alone was confident enough: undo it, to write again
        assert "Exif.Photo.FNumber" in tags(photo)[0]
        assert "1 restored" in run("undo", str(photo), "--db", str(db)).output
    else:
        assert "1 held back (confidence below" in held.output, held.output
    result = run("write", "--db", str(db), "--min-confidence", str(row["lens_confidence"] - 0.01))
    assert "1 written" in result.output, result.output
    exif, xmp = tags(photo)
    assert exif["Exif.Photo.LensModel"] == row["lens_name"]
    assert float(xmp["Xmp.phototag.LensConfidence"]) == pytest.approx(row["lens_confidence"], abs=0.005)


# --- undo, rescans, idempotence, sidecars -------------------------------------------------


def test_undo_restores_every_photo_byte_for_byte(manual, tiny_model, tmp_path):
    db = tmp_path / "t.db"
    before = snapshot(manual)
    write_with_helios(manual, tiny_model, db)
    assert snapshot(manual) != before
    undone = run("undo", str(manual), "--db", str(db))
    assert "Undo: 3 restored, 0 refused" in undone.output, undone.output
    assert snapshot(manual) == before


def test_undo_by_tag_values_puts_exif_version_back_and_removes_the_lens(manual, tiny_model, tmp_path, monkeypatch):
    import photo_tagger.tagio as tagio

    monkeypatch.setattr(tagio, "WHOLE_FILE_UNDO_LIMIT", 0)  # a TIFF too big to keep whole
    db = tmp_path / "t.db"
    tif = manual / "print.tif"
    write_with_helios(manual, tiny_model, db)
    assert "1 by rewriting tag values" in run("undo", str(tif), "--db", str(db)).output
    exif, xmp = tags(tif)
    assert exif["Exif.Photo.ExifVersion"] == V0220
    assert not any("Lens" in key for key in exif) and not any("Lens" in key for key in xmp)


def test_a_rescan_never_takes_the_written_lens_for_the_cameras(manual, tiny_model, tmp_path):
    db = tmp_path / "t.db"
    write_with_helios(manual, tiny_model, db)
    assert read_metadata((manual / "a.jpg").read_bytes()).lens_model is None
    forced = scan(manual, tiny_model, db, "--force")  # no --lens, no rule: nothing names the lens now
    assert "0 already had lens EXIF, 3 predicted" in forced.output, forced.output
    for name, row in db_rows(db).items():
        assert (row["lens_model"], row["lens_name"], row["lens_source"]) == (None, None, None), name


def test_writing_the_same_lens_again_changes_nothing(manual, tiny_model, tmp_path):
    db = tmp_path / "t.db"
    write_with_helios(manual, tiny_model, db)
    after_first = snapshot(manual)
    again = scan(manual, tiny_model, db, "--lens", HELIOS, "--force", "--write-exif", "--min-confidence", "0")
    assert "0 written" in again.output and "3 already written" in again.output, again.output
    assert snapshot(manual) == after_first


def test_an_earlier_lens_estimate_stays_marked_when_a_later_write_leaves_it(manual, tiny_model, tmp_path):
    db = tmp_path / "t.db"
    write_with_helios(manual, tiny_model, db)
    photo = manual / "a.jpg"
    data = photo.read_bytes()
    with Store(db) as store:
        row = store.photo(str(photo))
    assert row is not None
    est = Estimate(fnumber=5.6, focal_length=None, focal_length_35mm=None, fnumber_confidence=0.9,
                   focal_length_confidence=None, model_version="newer")  # the lens no longer confident
    job = build_exif_job(row, str(photo), data, os.stat(photo), est)
    assert not isinstance(job, str)
    assert job.tags_after["xmp"]["Xmp.phototag.EstimatedTags"] == f"FNumber,FocalLength,FocalLengthIn35mmFilm,{LENS_MARKS}"
    assert read_metadata(job.after).lens_model is None


def test_a_sidecar_takes_new_estimates(manual, tiny_model, tmp_path):
    """exiv2 writes a sidecar's exif: properties back from the EXIF it read from them: a new
    FNumber was reverted, and every rewrite of a sidecar failed its verification."""
    db = tmp_path / "t.db"
    with_helios(db)
    run("lens", "add", "Other", "--focal", "135", "--aperture", "2.8-22", "--db", str(db))
    scan(manual, tiny_model, db, "--lens", HELIOS, "--write-exif", "--sidecar", "--min-confidence", "0")
    result = scan(manual, tiny_model, db, "--lens", "other", "--force", "--write-exif", "--sidecar", "--min-confidence", "0")
    assert "3 written (3 into XMP sidecars), 0 held back, 0 failed" in result.output, result.output
    for name, row in db_rows(db).items():
        side = tags(manual / f"{name}.xmp")[1]
        assert same_value(side["Xmp.exif.FNumber"], f"{round(row['fnumber'] * 10)}/10") and side["Xmp.aux.Lens"] == "Other"
        assert same_value(side["Xmp.exif.FocalLength"], "1350/10")


@pytest.mark.parametrize("sidecar", [False, True])
def test_a_new_lens_replaces_the_earlier_one_whole(manual, tiny_model, tmp_path, sidecar):
    db = tmp_path / "t.db"
    with_helios(db)
    run("lens", "add", "Mystery", "--focal", "35-70", "--db", str(db))  # no maker
    mode = ("--sidecar",) if sidecar else ()
    before = snapshot(manual)
    scan(manual, tiny_model, db, "--lens", HELIOS, "--write-exif", *mode, "--min-confidence", "0")
    dry = scan(manual, tiny_model, db, "--lens", "mystery", "--force", "--write-exif", *mode, "--min-confidence", "0", "--dry-run")
    assert "3 would be written" in dry.output, dry.output
    second = scan(manual, tiny_model, db, "--lens", "mystery", "--force", "--write-exif", *mode, "--min-confidence", "0")
    assert "3 written" in second.output, second.output
    for name in ("a.jpg", "old.jpg", "print.tif"):
        exif, xmp = tags(manual / (f"{name}.xmp" if sidecar else name))
        assert (exif.get("Exif.Photo.LensModel"), xmp["Xmp.exifEX.LensModel"], xmp["Xmp.aux.Lens"]) == \
            (None if sidecar else "Mystery", "Mystery", "Mystery"), name
        assert "Exif.Photo.LensMake" not in exif and "Xmp.exifEX.LensMake" not in xmp, name  # KMZ made the Helios
        assert xmp["Xmp.exifEX.LensSpecification"] == ["35/1", "70/1", "0/0", "0/0"]
        assert xmp["Xmp.phototag.EstimatedTags"] == "FNumber,FocalLength,FocalLengthIn35mmFilm,LensModel,LensSpecification"
    written = snapshot(manual)
    again = scan(manual, tiny_model, db, "--lens", "mystery", "--force", "--write-exif", *mode, "--min-confidence", "0")
    assert "3 already written" in again.output, again.output
    assert snapshot(manual) == written
    assert "6 restored" in run("undo", str(manual), "--db", str(db)).output
    assert snapshot(manual) == before


def test_a_maker_left_by_an_earlier_lens_is_not_taken_for_already_written(manual, tiny_model, tmp_path):
    """A file left naming one lens with another's maker is put right by the next write."""
    db = tmp_path / "t.db"
    run("lens", "add", "Mystery", "--focal", "35-70", "--db", str(db))
    scan(manual, tiny_model, db, "--lens", "mystery", "--write-exif", "--min-confidence", "0")
    photo = manual / "a.jpg"
    _, xmp = tags(photo)
    marks = xmp["Xmp.phototag.EstimatedTags"] + ",LensMake"
    photo.write_bytes(modify(photo.read_bytes(), {"Exif.Photo.LensMake": "KMZ"},
                             {"Xmp.exifEX.LensMake": "KMZ", "Xmp.phototag.EstimatedTags": marks}))
    scan(manual, tiny_model, db, "--lens", "mystery", "--force")
    result = run("write", str(photo), "--db", str(db), "--min-confidence", "0")
    assert "1 written" in result.output, result.output
    exif, xmp = tags(photo)
    assert "Exif.Photo.LensMake" not in exif and "Xmp.exifEX.LensMake" not in xmp
    assert "LensMake" not in xmp["Xmp.phototag.EstimatedTags"]


def test_sidecar_mode_writes_the_xmp_forms_only(manual, tiny_model, tmp_path):
    db = tmp_path / "t.db"
    before = snapshot(manual)
    result = write_with_helios(manual, tiny_model, db, "--sidecar")
    assert "3 written (3 into XMP sidecars)" in result.output, result.output
    assert {p: v for p, v in snapshot(manual).items() if p in before} == before  # no photo touched
    for name in ("a.jpg", "print.tif"):
        side = tags(manual / f"{name}.xmp")[1]
        assert side["Xmp.exifEX.LensModel"] == "Helios-44 58mm 1:2" and side["Xmp.aux.Lens"] == HELIOS
        assert side["Xmp.exifEX.LensSpecification"] == ["58/1", "58/1", "2/1", "2/1"]
        assert LENS_MARKS in side["Xmp.phototag.EstimatedTags"]
    sidecars = {p: v for p, v in snapshot(manual).items() if p.endswith(".xmp")}
    again = scan(manual, tiny_model, db, "--lens", HELIOS, "--force", "--write-exif", "--sidecar", "--min-confidence", "0")
    assert "3 already written" in again.output, again.output
    assert {p: v for p, v in snapshot(manual).items() if p.endswith(".xmp")} == sidecars
    assert run("undo", str(manual), "--db", str(db)).exit_code == 0
    assert snapshot(manual) == before


def test_a_lightroom_sidecar_naming_a_lens_keeps_it(tmp_path, tiny_model):
    from photo_tagger.xmp import EMPTY_PACKET

    photo = make_photo(tmp_path / "roll" / "a.jpg", exif=camera_exif(None, None), seed=1)
    (tmp_path / "roll" / "a.xmp").write_bytes(modify(EMPTY_PACKET, {}, {"Xmp.aux.Lens": "Jupiter-9 85mm f/2"}))
    db = tmp_path / "t.db"
    write_with_helios(tmp_path / "roll", tiny_model, db, "--sidecar")
    assert not Path(f"{photo}.xmp").exists()  # Lightroom's own sidecar is updated, not doubled
    side = tags(tmp_path / "roll" / "a.xmp")[1]
    assert side["Xmp.aux.Lens"] == "Jupiter-9 85mm f/2" and "Xmp.exifEX.LensModel" not in side
    assert "Xmp.exif.FNumber" in side


# --- comparing values --------------------------------------------------------------------


def test_lens_specification_compares_element_by_element():
    assert same_value("58/1 58/1 2/1 2/1", "580/10 580/10 20/10 20/10")
    assert same_value(["58/1", "58/1", "2/1", "2/1"], "580/10 580/10 20/10 20/10")
    assert same_value("28/1 70/1 7/2 0/0", ["28/1", "70/1", "35/10", "0/0"])  # 0/0 (unknown) equals itself
    assert not same_value("58/1 58/1 2/1 2/1", "58/1 58/1 2/1 28/10")
    assert not same_value("58/1 58/1 2/1 0/0", "58/1 58/1 2/1 2/1")
    assert not same_value("58/1 58/1 2/1", "58/1 58/1 2/1 2/1")
    assert same_value("28/10", "14/5") and same_value("Helios-44 58mm 1:2", "Helios-44 58mm 1:2")
    assert not same_value("Helios-44 58mm 1:2", "Helios-44 58mm 1:4") and not same_value(None, "58/1")
