"""The library's evidence (library.py): EV labels, time neighbours, habits and the flash rule,
on a real photo from ../shared/data, through the real scan, model and database."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pyexiv2
import pytest

from helpers import rows, run
from photo_tagger.estimate import Estimate
from photo_tagger.library import Library, gap_sigma, habit_kernel, habit_prior, refine, scene_ev
from photo_tagger.metadata import read_metadata
from photo_tagger.pipeline import UNCHECKED_LENS_CAP, unchecked_lens
from photo_tagger.registry import SHIPPED_MODEL, shipped_models
from photo_tagger.tolerance import ONE_STOP
from photo_tagger.writeback import DEFAULT_MIN_CONFIDENCE

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
# Canon EOS 5D Mark III, f/5.6, 1/8000 s, ISO 1600, aperture priority, no flash, 2020:12:13 10:47:31
PHOTO = SHARED / "portfolio" / "liamdalyphotos+liamdalyphotos.github.io" / "0809.jpg"
LENS_TAGS = ("Exif.Photo.FNumber", "Exif.Photo.FocalLength", "Exif.Photo.ApertureValue",
             "Exif.Photo.MaxApertureValue", "Exif.Photo.LensModel", "Exif.Photo.LensSpecification",
             "Exif.Photo.LensSerialNumber")

BINS = np.asarray([2 ** (k / 6) for k in range(31)])
pytestmark = pytest.mark.skipif(not PHOTO.is_file(), reason="needs ../shared/data")


def copy(dest: Path, manual: bool = False, **tags: str | None) -> Path:
    """PHOTO copied to dest with tags changed; manual removes the lens's records."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PHOTO, dest)  # not its mode: shared/ is read-only
    changes: dict[str, str | None] = {f"Exif.Photo.{k}": v for k, v in tags.items()}
    if manual:
        changes.update({tag: None for tag in LENS_TAGS})
    with pyexiv2.Image(str(dest)) as image:
        image.modify_exif(changes)
    return dest


def scan(folder: Path, db: Path, *extra: str):  # type: ignore[no-untyped-def]
    model = next(m.path for m in shipped_models() if m.path.name == SHIPPED_MODEL)
    result = run("scan", str(folder), "--db", str(db), "--model", str(model), "--workers", "1", *extra)
    assert result.exit_code == 0, result.output
    return result


def test_the_ev_label_is_the_exposure_equation_with_the_compensation_the_meter_saw():
    meta = read_metadata(PHOTO.read_bytes())
    assert (meta.fnumber, meta.exposure_time, meta.iso, meta.exposure_program) == (5.6, 1 / 8000, 1600, 3)
    expected = math.log2(5.6**2 * 8000) - math.log2(16)
    assert scene_ev(meta.fnumber, meta.exposure_time, meta.iso, 0.0, 3) == pytest.approx(expected)
    # +1 EV compensation: the settings let in one stop more than the scene's meter reading
    assert scene_ev(5.6, 1 / 4000, 1600, 1.0, 3) == pytest.approx(expected)
    # Manual mode: compensation moves only the meter's needle, not the exposure
    assert scene_ev(5.6, 1 / 8000, 1600, 1.0, 1) == pytest.approx(expected)


def test_a_manual_lens_photo_takes_its_aperture_from_a_neighbour_through_the_exposure_equation(tmp_path):
    lib = tmp_path / "shoot"
    copy(lib / "labeled.jpg")  # f/5.6 at 1/8000 s, 10:47:31
    # a minute later, same light, four times the exposure time: two stops smaller, f/11
    copy(lib / "slower.jpg", manual=True, ExposureTime="1/2000", DateTimeOriginal="2020:12:13 10:48:31")
    # a quarter of the time: two stops wider, f/2.8
    copy(lib / "faster.jpg", manual=True, ExposureTime="1/32000", DateTimeOriginal="2020:12:13 10:46:31")
    db = tmp_path / "t.db"
    assert "2 aperture estimates also weigh your labeled photos" in scan(lib, db).output
    got = rows(db)
    for name, truth in (("slower.jpg", 11.2), ("faster.jpg", 2.8)):
        row = got[name]
        assert row["status"] == "predicted"
        assert ONE_STOP.hits(row["fnumber"], truth), (name, row["fnumber"])
        # another lens's apertures are no habit of the manual lens's: the light alone
        assert row["fnumber_source"] == "model + 1 neighbour from 60 s"
        assert row["model_fnumber"] != row["fnumber"]  # the model alone said something else
        assert row["fnumber_confidence"] > 0.6
    assert got["labeled.jpg"]["taken_at"] == "2020-12-13T10:47:31"
    assert got["labeled.jpg"]["exif_exposure_program"] == 3


def test_a_declared_lens_keeps_the_neighbours_light_and_its_own_stops(tmp_path):
    """A manual f/2-16 lens declared for a folder: the neighbour's light still says f/11,
    on the lens's own full stops; before, a declared lens set the library's evidence aside."""
    lib = tmp_path / "shoot"
    copy(lib / "zoom" / "labeled.jpg")  # f/5.6 at 1/8000 s, 10:47:31
    copy(lib / "helios" / "slower.jpg", manual=True, ExposureTime="1/2000", DateTimeOriginal="2020:12:13 10:48:31")
    db = tmp_path / "t.db"
    opts = ("--db", str(db))
    assert run("lens", "add", "Helios 58", "--focal", "58", "--aperture", "2-16", *opts).exit_code == 0
    assert run("lens", "assign", "Helios 58", "--folder", str(lib / "helios"), *opts).exit_code == 0
    scan(lib, db)
    row = rows(db)["slower.jpg"]
    assert row["lens_name"] == "Helios 58"
    assert row["fnumber_source"] == "model + 1 neighbour from 60 s"
    assert row["fnumber"] == 11.0  # on the lens's scale: 2, 2.8, 4, 5.6, 8, 11, 16
    assert row["fnumber_confidence"] > 0.6
    assert row["focal_length"] == 58.0
    shown = run("show", str(lib / "helios" / "slower.jpg"), *opts).output
    assert "the model's own, before the lens's stops and the library's evidence" in shown


def test_a_labeled_photo_checked_with_scan_all_is_left_out_of_its_own_evidence(tmp_path):
    lib = tmp_path / "shoot"
    copy(lib / "labeled.jpg")
    copy(lib / "checked.jpg", ExposureTime="1/2000", FNumber="112/10", DateTimeOriginal="2020:12:13 10:48:31")
    db = tmp_path / "t.db"
    scan(lib, db, "--all")
    row = rows(db)["checked.jpg"]
    assert row["status"] == "has_exif" and row["exif_fnumber"] == pytest.approx(11.2)
    assert row["fnumber_source"] == "model + 1 neighbour from 60 s + habits of 1 photo"
    assert ONE_STOP.hits(row["fnumber"], 11.2)


def test_without_labeled_photos_the_estimate_is_the_models_own(tmp_path):
    lib = tmp_path / "shoot"
    copy(lib / "slower.jpg", manual=True, ExposureTime="1/2000")
    db = tmp_path / "t.db"
    scan(lib, db)
    row = rows(db)["slower.jpg"]
    assert row["fnumber_source"] == "model"
    assert "weigh your labeled photos" not in run("scan", str(lib), "--db", str(db)).output
    assert (row["fnumber"], row["fnumber_confidence"]) == (row["model_fnumber"], row["model_fnumber_confidence"])
    # a labeled neighbour arrives later: the next scan weighs it without re-running the model
    copy(lib / "labeled.jpg")
    summary = scan(lib, db).output
    row = rows(db)["slower.jpg"]
    assert "neighbour" in row["fnumber_source"] and ONE_STOP.hits(row["fnumber"], 11.2)
    assert "1 unchanged" in summary


def test_a_flash_photo_takes_no_neighbour_light_and_flash_lit_neighbours_teach_none(tmp_path):
    lib = tmp_path / "shoot"
    copy(lib / "labeled.jpg")
    copy(lib / "flash.jpg", manual=True, ExposureTime="1/2000", Flash="1", DateTimeOriginal="2020:12:13 10:48:31")
    copy(lib / "flash-lit.jpg", Flash="1", DateTimeOriginal="2020:12:13 10:49:00")
    copy(lib / "after.jpg", manual=True, ExposureTime="1/2000", DateTimeOriginal="2020:12:13 10:49:01")
    copy(lib / "no-time.jpg", manual=True, ExposureTime=None, DateTimeOriginal="2020:12:13 10:48:00")
    db = tmp_path / "t.db"
    scan(lib, db)
    got = rows(db)
    assert got["flash.jpg"]["fnumber_source"] == "model"
    # no exposure time: nothing links the light to its aperture
    assert got["no-time.jpg"]["fnumber_source"] == "model"
    # the nearest labeled photo (1 s) was flash-lit: the neighbour is the one 90 s before
    assert got["after.jpg"]["fnumber_source"] == "model + 1 neighbour from 90 s"


def test_an_estimate_already_written_into_its_file_is_not_changed_by_later_evidence(tmp_path):
    lib = tmp_path / "shoot"
    copy(lib / "slower.jpg", manual=True, ExposureTime="1/2000")
    db = tmp_path / "t.db"
    scan(lib, db, "--write-exif", "--min-confidence", "0")
    before = rows(db)["slower.jpg"]
    assert before["written"] == 1
    copy(lib / "labeled.jpg")
    scan(lib, db)
    after = rows(db)["slower.jpg"]
    assert (after["fnumber"], after["fnumber_confidence"], after["fnumber_source"]) == (
        before["fnumber"], before["fnumber_confidence"], "model")
    with pyexiv2.Image(str(lib / "slower.jpg")) as image:
        written = image.read_exif()["Exif.Photo.FNumber"]
    num, den = (int(x) for x in written.split("/"))
    assert num / den == pytest.approx(after["fnumber"], abs=0.06)


def _row(**values: object) -> dict[str, object]:
    base = {"path": "query.jpg", "camera_make": "Canon", "camera_model": "Canon EOS 5D Mark III",
            "lens_model": "EF100-400mm f/4.5-5.6L IS II USM", "taken_at": "2020-12-13T10:47:31",
            "exif_fnumber": 5.6, "exif_exposure_time": 1 / 8000, "exif_iso": 1600.0, "exif_exposure_bias": 0.0,
            "exif_flash_fired": 0, "exif_exposure_program": 3}
    return {**base, **values}


def test_the_neighbours_spread_grows_with_the_gap_and_in_manual_mode():
    assert gap_sigma(0) < gap_sigma(60) < gap_sigma(900) < gap_sigma(3600)
    library = Library.from_rows([_row(path="a.jpg"), _row(path="b.jpg", taken_at="2020-12-13T09:00:00", exif_fnumber=1.4)],
                                BINS)
    near = library.evidence(_row(taken_at="2020-12-13T10:48:31"))
    far = library.evidence(_row(taken_at="2020-12-13T12:00:00"))
    manual = library.evidence(_row(taken_at="2020-12-13T10:48:31", exif_exposure_program=1))
    assert near.ev_sigma is not None and far.ev_sigma is not None and manual.ev_sigma is not None
    assert near.ev_sigma < far.ev_sigma and near.ev_sigma < manual.ev_sigma
    assert near.nearest_gap_s == 60.0
    # beyond three hours the light says nothing; habits still count
    late = library.evidence(_row(taken_at="2020-12-14T10:47:31"))
    assert late.ev_mean is None and late.habit_photos == 2
    # a labeled photo checked with scan --all is not its own habit
    assert library.evidence(_row(path="a.jpg", taken_at="2020-12-14T10:47:31")).habit_photos == 1
    # another body's photos are not this one's neighbours
    assert library.evidence(_row(camera_model="Canon EOS R6")).empty


def test_habits_count_for_more_the_more_photos_show_them():
    bins = BINS
    few = habit_prior(habit_kernel(bins, np.log2([1.4] * 3)).sum(1), 3)
    many = habit_prior(habit_kernel(bins, np.log2([1.4] * 60)).sum(1), 60)
    at = int(np.abs(bins - 1.4).argmin())
    assert few.sum() == pytest.approx(1.0) and many.sum() == pytest.approx(1.0)
    assert few[at] < many[at]
    assert few[at] > 5 * few[-1]  # three photos already suggest


def test_the_habits_of_the_same_outing_weigh_most(tmp_path):
    """Six photos at f/11 over the autumn, three at f/1.4 on the morning of the shoot, all
    with one lens. Checked with `scan --all`, the afternoon's photo (too late for the
    morning's light) takes the morning's stop from the lens's habits."""
    lib = tmp_path / "library"
    for month in range(6, 12):
        copy(lib / f"autumn-{month}.jpg", FNumber="11/1", DateTimeOriginal=f"2020:{month:02d}:02 10:00:00")
    for minute in range(3):
        copy(lib / f"morning-{minute}.jpg", FNumber="14/10", DateTimeOriginal=f"2020:12:13 08:0{minute}:00")
    copy(lib / "afternoon.jpg", FNumber="14/10", DateTimeOriginal="2020:12:13 13:00:00")
    copy(lib / "next-spring.jpg", FNumber="11/1", DateTimeOriginal="2021:04:02 13:00:00")
    db = tmp_path / "t.db"
    scan(lib, db, "--all")
    got = rows(db)
    assert got["afternoon.jpg"]["fnumber_source"] == "model + habits of 10 photos"
    assert ONE_STOP.hits(got["afternoon.jpg"]["fnumber"], 1.4)
    # months from either, the usual stop counts by how often it was used
    assert got["next-spring.jpg"]["fnumber"] > 2 * got["afternoon.jpg"]["fnumber"]


def test_a_manual_lens_photo_takes_no_habits_from_the_other_lenses(tmp_path):
    """A year of a zoom at f/11 says how the zoom was set, not the manual lens: with no
    neighbour's light, the manual-lens photo keeps the model's own estimate."""
    lib = tmp_path / "library"
    for month in range(1, 12):
        copy(lib / f"zoom-{month}.jpg", FNumber="11/1", DateTimeOriginal=f"2020:{month:02d}:02 10:00:00")
    copy(lib / "manual.jpg", manual=True, DateTimeOriginal="2020:12:13 13:00:00")
    db = tmp_path / "t.db"
    scan(lib, db)
    row = rows(db)["manual.jpg"]
    assert row["fnumber_source"] == "model"
    assert (row["fnumber"], row["fnumber_confidence"]) == (row["model_fnumber"], row["model_fnumber_confidence"])


def test_an_outing_moves_the_habits_but_does_not_make_them_surer():
    library = Library.from_rows([_row(path=f"{i}.jpg", exif_fnumber=8.0, taken_at=f"2020-0{i}-01T10:00:00")
                                 for i in range(1, 7)]
                                + [_row(path="day.jpg", exif_fnumber=1.4, taken_at="2020-12-13T06:00:00")], BINS)
    near = library.evidence(_row(taken_at="2020-12-13T10:00:00", exif_exposure_time=None))
    far = library.evidence(_row(taken_at="2021-06-01T10:00:00", exif_exposure_time=None))
    assert near.habit_counts is not None and far.habit_counts is not None
    assert near.habit_counts.sum() == pytest.approx(7.0) and far.habit_counts.sum() == pytest.approx(7.0)
    wide, slow = int(np.abs(BINS - 1.4).argmin()), int(np.abs(BINS - 8.0).argmin())
    assert near.habit_counts[wide] > near.habit_counts[slow]  # one photo that morning outweighs six old ones
    assert far.habit_counts[wide] < far.habit_counts[slow]


def test_a_lens_changed_during_the_outing_follows_the_light_not_the_habit():
    """A year of a zoom at f/8, six frames of it that very morning; a minute later a manual
    lens at a shutter 32 times faster in the same light. The neighbours' light says f/1.4,
    and two hundred photos of habit do not talk it out of it."""
    year = [_row(path=f"year-{i}.jpg", exif_fnumber=8.0, exif_exposure_time=1 / 250,
                 taken_at=f"2020-{1 + i % 11:02d}-{1 + i % 27:02d}T10:00:00") for i in range(200)]
    morning = [_row(path=f"zoom-{i}.jpg", exif_fnumber=8.0, exif_exposure_time=1 / 250,
                    taken_at=f"2020-12-13T10:{40 + i}:00") for i in range(6)]
    library = Library.from_rows(year + morning, BINS)
    # a chipped adapter recording the zoom's name would bring the zoom's habits: the light still wins
    chipped = _row(taken_at="2020-12-13T10:46:30", exif_exposure_time=1 / 8000, exif_fnumber=None)
    flat = np.full(len(BINS), 1.0 / len(BINS))
    evidence = library.evidence(chipped)
    assert evidence.habit_photos == 206
    value, _ = refine(BINS, flat, chipped, evidence)
    assert ONE_STOP.hits(value, 1.4)
    # a manual lens records no name: the zoom's habits are not its own
    manual = {**chipped, "lens_model": None}
    assert library.evidence(manual).habit_photos == 0
    value, _ = refine(BINS, flat, manual, library.evidence(manual))
    assert ONE_STOP.hits(value, 1.4)


def test_habits_alone_are_never_sure_enough_to_be_written():
    """Two hundred photos at f/8 say how the photographer's lenses with a chip were set, not
    the manual lens: without light or pixels that agree, they are not written."""
    library = Library.from_rows([_row(path=f"year-{i}.jpg", exif_fnumber=8.0,
                                      taken_at=f"2020-{1 + i % 11:02d}-{1 + i % 27:02d}T10:00:00") for i in range(200)],
                                BINS)
    row = _row(taken_at="2021-03-01T10:00:00", exif_fnumber=None)
    evidence = library.evidence(row)
    assert evidence.ev_mean is None and evidence.habit_photos == 200
    value, confidence = refine(BINS, np.full(len(BINS), 1.0 / len(BINS)), row, evidence)
    assert value == pytest.approx(8.0, rel=0.05)
    assert 0.5 < confidence < DEFAULT_MIN_CONFIDENCE


def test_report_shows_how_often_confidences_came_true_on_scan_all_photos(tmp_path):
    import json

    lib = tmp_path / "shoot"
    copy(lib / "labeled.jpg")
    copy(lib / "checked.jpg", ExposureTime="1/2000", FNumber="112/10", DateTimeOriginal="2020:12:13 10:48:31")
    copy(lib / "implausible.jpg", FNumber="2/10", DateTimeOriginal="2020:12:13 11:48:31")
    db = tmp_path / "t.db"
    scan(lib, db, "--all")
    accuracy = json.loads(run("report", "--db", str(db), "--format", "json").output)["accuracy_on_exif_photos"]
    assert accuracy["photos"] == 2  # f/0.2 is no truth to score against
    bins = accuracy["fnumber_reliability"]
    assert sum(b["photos"] for b in bins) == 2
    got = [r for r in rows(db).values() if r["exif_fnumber"] > 1]
    right = sum(bool(ONE_STOP.hits(r["fnumber"], r["exif_fnumber"])) for r in got)
    assert sum(b["right"] * b["photos"] for b in bins) == pytest.approx(right)
    assert sum(b["mean_confidence"] * b["photos"] for b in bins) == pytest.approx(
        sum(r["fnumber_confidence"] for r in got), abs=1e-3)
    assert "How often FNumber confidences came true" in run("report", "--db", str(db)).output


def test_an_adapted_model_is_not_trusted_on_a_lens_it_never_saw(tmp_path):
    """`train` checked the adapted model on photos of the lenses that record their names; a
    photo with none recorded or declared keeps at most UNCHECKED_LENS_CAP from it alone."""
    manual = read_metadata(copy(tmp_path / "manual.jpg", manual=True).read_bytes())
    named = read_metadata(copy(tmp_path / "named.jpg", FNumber=None, FocalLength=None).read_bytes())
    assert manual.lens_model is None and named.lens_model == "EF100-400mm f/4.5-5.6L IS II USM"
    sure = Estimate(fnumber=5.6, fnumber_confidence=0.93, focal_length_35mm=400.0, focal_length_confidence=0.9,
                    ev100=12.0)
    held = unchecked_lens(sure, True, manual)
    assert (held.fnumber, held.focal_length_35mm) == (5.6, 400.0)
    assert held.fnumber_confidence == held.focal_length_confidence == UNCHECKED_LENS_CAP < DEFAULT_MIN_CONFIDENCE
    assert unchecked_lens(sure, True, named) == sure  # a lens it may have learned
    assert unchecked_lens(sure, False, manual) == sure  # the shipped model's own calibration stands
    # a declared manual lens (or a chip's name a rule places) is no lens train learned from
    declared = Estimate(5.6, 0.93, 400.0, 0.9, 12.0, lens_index=0, lens_confidence=1.0)
    assert unchecked_lens(declared, True, named).fnumber_confidence == UNCHECKED_LENS_CAP
