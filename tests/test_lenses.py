"""Lens profiles: lensfun search, the lens book, rules, and scans that know the lens.

Real photo files in tmp_path, a real SQLite file, the tiny ONNX model, the real CLI.
"""

from __future__ import annotations

from pathlib import Path

import click
import numpy as np
import pytest

from photo_tagger.cli_lens import camera_group, lens_group
from photo_tagger.estimate import LensConstraint, constrain_fnumber, estimate, lens_posterior, stop_scale
from photo_tagger.lensbook import LensBook
from photo_tagger.metadata import read_metadata
from photo_tagger.lenses import LensError, UnknownLens, custom_lens, search_lensfun
from photo_tagger.modelspec import AUX_FEATURES, OUTPUT_EV100, OUTPUT_FNUMBER, OUTPUT_FOCAL35, default_spec
from photo_tagger.store import Store
from helpers import rows, run, wide_or_long
from photos import camera_exif, make_photo

HELIOS = "KMZ Helios-44 58mm 1:2"
FULL_STOPS_2_16 = {2.0, 2.8, 4.0, 5.6, 8.0, 11.0, 16.0}


def scan(paths: list[Path], model: Path, db: Path, *extra: str):  # type: ignore[no-untyped-def]
    return run("scan", *map(str, paths), "--db", str(db), "--model", str(model), "--workers", "1", *extra)


# --- lensfun and the lens book -----------------------------------------------------------


def test_search_finds_helios_44_58mm_f2():
    result = run("lens", "search", "helios 44")
    assert result.exit_code == 0, result.output
    assert f"{HELIOS}  (58 mm f/2-16, full stops, M42; lensfun)" in result.output
    lens = next(lens for lens in search_lensfun("helios-44 58") if lens.name == HELIOS)
    assert (lens.focal_min, lens.focal_max, lens.aperture_min, lens.aperture_max) == (58, 58, 2, 16)


def test_add_list_remove_lensfun_and_custom_lenses(tmp_path):
    db = str(tmp_path / "t.db")
    assert run("lens", "add", "Helios-44 58mm", "--db", db).exit_code == 0  # the one prefix match
    added = run("lens", "add", "My Zoom", "--focal", "28-70", "--aperture", "3.5-22", "--stops", "third",
                "--mount", "PK", "--db", db)
    assert added.exit_code == 0 and "28-70 mm f/3.5-22, third stops, PK" in added.output
    listed = run("lens", "list", "--db", db)
    assert HELIOS in listed.output and "My Zoom" in listed.output
    again = run("lens", "add", "my zoom", "--focal", "50", "--db", db)
    assert again.exit_code == 1 and "already exists" in again.output
    ambiguous = run("lens", "add", "helios", "--db", db)
    assert ambiguous.exit_code == 1 and "3 lensfun lenses match" in ambiguous.output
    bad = run("lens", "add", "X", "--focal", "70-28", "--db", db)
    assert bad.exit_code == 1 and "out of order" in bad.output
    removed = run("lens", "remove", "my zoom", "--db", db)
    assert removed.exit_code == 0 and "removed My Zoom" in removed.output
    with Store(db) as store:
        assert [lens.name for lens in LensBook(store).lenses()] == [HELIOS]


def test_unknown_lens_is_a_clear_error_with_near_matches(library, tiny_model, tmp_path):
    db = tmp_path / "t.db"
    run("lens", "add", HELIOS, "--db", str(db))
    result = scan([library], tiny_model, db, "--lens", "Helios-44 58mm 1:4")
    assert result.exit_code == 1
    assert "no lens named 'Helios-44 58mm 1:4' is known; did you mean 'KMZ Helios-44 58mm 1:2'?" in result.output
    assert "Traceback" not in result.output
    unadded = scan([library], tiny_model, db, "--lens", "Samyang 14mm")
    assert unadded.exit_code == 1 and "add it first with `phototag lens add NAME`" in unadded.output
    assign = run("lens", "assign", "Helio 44", "--camera", "X", "--db", str(db))
    assert assign.exit_code == 1 and "did you mean 'KMZ Helios-44 58mm 1:2'" in assign.output


# --- what a known lens does to a scan ----------------------------------------------------


def test_scan_with_a_prime_gives_its_focal_length_and_apertures_on_its_scale(library, tiny_model, tmp_path):
    db = tmp_path / "t.db"
    run("lens", "add", HELIOS, "--db", str(db))
    result = scan([library], tiny_model, db, "--all", "--lens", "kmz helios-44 58MM 1:2")
    assert result.exit_code == 0, result.output
    got = rows(db)
    assert len(got) == 5
    for name in ("c.jpg", "d.jpg"):  # an electronic lens's EXIF: checked against the model, lens unnamed
        assert got[name]["status"] == "has_exif" and got[name]["lens_name"] is None and got[name]["fnumber"]
        del got[name]
    for name, r in got.items():
        assert r["focal_length"] == 58.0, name
        assert r["focal_length_source"] == "lens" and r["focal_length_confidence"] == 1.0
        assert r["lens_name"] == HELIOS and r["lens_source"] == "scan" and r["lens_confidence"] == 1.0
        assert r["fnumber"] in FULL_STOPS_2_16, (name, r["fnumber"])
        assert 0.0 < r["fnumber_confidence"] <= 1.0
    assert got["a.jpg"]["focal_length_35mm"] == 58.0  # full-frame body
    assert got["zero.jpg"]["focal_length_35mm"] == 58.0  # a Sony A7 III writes FNumber 0: full frame too


def test_a_zoom_restricts_focal_length_to_its_range(library, tiny_model, tmp_path):
    db = tmp_path / "t.db"
    run("lens", "add", "Tele", "--focal", "200-300", "--aperture", "5.6-32", "--stops", "third", "--db", str(db))
    result = scan([library], tiny_model, db, "--lens", "tele")
    assert result.exit_code == 0, result.output
    predicted = [r for r in rows(db).values() if r["status"] == "predicted"]
    assert len(predicted) == 3
    for r in predicted:
        assert 200 <= r["focal_length_35mm"] / r["crop_factor"] <= 300
        assert r["focal_length_source"] == "model" and r["lens_name"] == "Tele"
        assert r["fnumber"] in set(stop_scale(5.6, 32, "third"))


def test_rules_apply_to_the_right_photos_only(tmp_path, tiny_model):
    root = tmp_path / "lib"
    make_photo(root / "helios" / "h1.jpg", exif=camera_exif(None, None), seed=1)
    make_photo(root / "other" / "o1.jpg", exif=camera_exif(None, None), seed=2)
    make_photo(root / "other" / "fuji.jpg", exif=camera_exif(None, None, make="FUJIFILM", model="X-T2"), seed=3)
    dated = camera_exif(None, None, make="OLYMPUS", model="E-M5") | {"Exif.Photo.DateTimeOriginal": "2021:06:15 10:00:00"}
    make_photo(root / "other" / "june.jpg", exif=dated, seed=4)
    late = dated | {"Exif.Photo.DateTimeOriginal": "2021:08:01 10:00:00"}
    make_photo(root / "other" / "august.jpg", exif=late, seed=5)
    make_photo(root / "helios" / "af.jpg", exif=camera_exif(4.0, 85.0), seed=6)  # an AF lens: not ours
    db = tmp_path / "t.db"
    opts = ("--db", str(db))
    for name, focal, aperture in (("Helios", "58", "2-16"), ("Jupiter-9", "85", "2-22"), ("Zuiko", "50", "1.8-16")):
        assert run("lens", "add", name, "--focal", focal, "--aperture", aperture, *opts).exit_code == 0
    assert run("lens", "assign", "helios", "--folder", str(root / "helios"), *opts).exit_code == 0
    assert run("lens", "assign", "jupiter-9", "--camera", "x-t2", *opts).exit_code == 0
    assert run("lens", "assign", "zuiko", "--from", "2021-06-01", "--to", "2021-06-30", *opts).exit_code == 0
    assert "3 rules" in run("lens", "rules", *opts).output
    assert scan([root], tiny_model, db).exit_code == 0
    got = rows(db)
    assert {n: r["lens_name"] for n, r in got.items()} == {
        "h1.jpg": "Helios", "o1.jpg": None, "fuji.jpg": "Jupiter-9", "june.jpg": "Zuiko",
        "august.jpg": None, "af.jpg": None,
    }
    assert got["h1.jpg"]["lens_source"] == "rule" and got["h1.jpg"]["focal_length"] == 58.0
    assert got["fuji.jpg"]["focal_length"] == 85.0 and got["fuji.jpg"]["crop_factor"] == pytest.approx(1.53, abs=0.01)
    assert got["o1.jpg"]["focal_length_source"] == "model"
    # a changed rule redoes the photos it matched (h1, and af with its lens EXIF); the rest are skipped
    assert "0 predicted, 6 unchanged" in scan([root], tiny_model, db).output
    assert run("lens", "unassign", "1", *opts).exit_code == 0
    assert "1 already had lens EXIF, 1 predicted, 4 unchanged" in scan([root], tiny_model, db).output
    assert rows(db)["h1.jpg"]["lens_name"] is None


def test_lens_model_written_by_the_body_is_recognised(tmp_path, tiny_model):
    exif = camera_exif(None, None, make="NIKON CORPORATION", model="NIKON Z 6") | {"Exif.Photo.LensModel": "Helios-44 58mm 1:2"}
    make_photo(tmp_path / "lib" / "z.jpg", exif=exif, seed=1)
    make_photo(tmp_path / "lib" / "plain.jpg", exif=camera_exif(None, None), seed=2)
    db = tmp_path / "t.db"
    run("lens", "add", HELIOS, "--db", str(db))
    assert scan([tmp_path / "lib"], tiny_model, db).exit_code == 0
    got = rows(db)
    assert got["z.jpg"]["lens_name"] == HELIOS and got["z.jpg"]["lens_source"] == "exif"
    assert got["z.jpg"]["focal_length"] == 58.0
    assert got["plain.jpg"]["lens_name"] is None


def test_several_candidate_lenses_are_picked_by_focal_length(tmp_path, tiny_model):
    make_photo(tmp_path / "lib" / "a.jpg", exif=camera_exif(None, None), seed=1)
    db = tmp_path / "t.db"
    wide_or_long(db, tmp_path / "lib")
    assert scan([tmp_path / "lib"], tiny_model, db).exit_code == 0
    r = rows(db)["a.jpg"]
    assert r["lens_name"] in ("Wide", "Long") and r["lens_source"] == "rule"
    assert 0.0 < r["lens_confidence"] < 1.0
    assert r["focal_length_confidence"] == r["lens_confidence"]


def test_camera_set_crop_wins_over_lensfun(library, tiny_model, tmp_path):
    db = tmp_path / "t.db"
    assert run("camera", "set", "Canon EOS 5D Mark II", "--crop", "1.6", "--db", str(db)).exit_code == 0
    assert "Canon EOS 5D Mark II: crop factor 1.6" in run("camera", "list", "--db", str(db)).output
    assert scan([library], tiny_model, db).exit_code == 0
    a = rows(db)["a.jpg"]
    assert (a["crop_factor"], a["crop_factor_source"]) == (1.6, "user")
    bad = run("camera", "set", "X", "--crop", "100", "--db", str(db))
    assert bad.exit_code == 1 and "implausible" in bad.output


def test_report_breaks_results_down_by_lens(library, tiny_model, tmp_path):
    db = tmp_path / "t.db"
    run("lens", "add", HELIOS, "--db", str(db))
    scan([library / "manual"], tiny_model, db, "--lens", HELIOS)
    scan([library / "sony"], tiny_model, db)
    import json

    report = json.loads(run("report", "--db", str(db), "--format", "json").output)
    assert report["lenses"][HELIOS]["photos"] == 2
    assert report["lenses"]["(no known lens)"]["photos"] == 1
    assert "Estimates by lens" in run("report", "--db", str(db)).output


# --- the maths -----------------------------------------------------------------------------


def test_stop_scales():
    assert stop_scale(2, 16, "full").tolist() == sorted(FULL_STOPS_2_16)
    assert stop_scale(1.8, 22, "full").tolist() == [1.8, 2, 2.8, 4, 5.6, 8, 11, 16, 22]
    assert stop_scale(3.5, 22, "half").tolist()[:3] == [3.5, 4.0, 4.8]


def test_constraint_moves_mass_onto_the_lens_scale_and_out_of_range_mass_to_its_end():
    bins = np.asarray(default_spec("t").fnumber_bins)
    probs = np.zeros(len(bins))
    probs[np.argmin(abs(bins - 1.0))] = 0.5  # "f/1" from an f/2 lens: the model means wide open
    probs[np.argmin(abs(bins - 2.24))] = 0.3  # a third above f/2: snaps to f/2
    probs[np.argmin(abs(bins - 5.04))] = 0.2  # two thirds above f/4: snaps to f/5.6
    values, p = constrain_fnumber(probs, bins, LensConstraint(58, 58, 2, 16, "full"))
    assert dict(zip(values.tolist(), p.round(6).tolist())) == {2.0: 0.8, 2.8: 0, 4.0: 0, 5.6: 0.2, 8.0: 0, 11.0: 0, 16.0: 0}


def test_estimate_with_candidates_uses_the_focal_posterior():
    spec = default_spec("t")
    f_bins, l_bins = np.asarray(spec.fnumber_bins), np.asarray(spec.focal35_bins)
    f_logits = np.zeros((1, len(f_bins)))
    l_logits = np.full((1, len(l_bins)), -10.0)
    l_logits[0, np.argmin(abs(l_bins - 85))] = 5.0
    outputs = {OUTPUT_FNUMBER: f_logits, OUTPUT_FOCAL35: l_logits, OUTPUT_EV100: np.zeros((1, len(spec.ev100_bins)))}
    aux = np.zeros((1, len(AUX_FEATURES)), np.float32)
    wide, portrait = LensConstraint(24, 24, 2.8, 22, "full"), LensConstraint(85, 85, 2, 16, "full")
    [est] = estimate(spec, outputs, aux, "dof", [(wide, portrait)])
    assert est.lens_index == 1 and est.focal_length_35mm == 85.0
    assert est.lens_confidence == pytest.approx(lens_posterior(
        np.exp(l_logits[0]) / np.exp(l_logits[0]).sum(), l_bins, [wide, portrait])[1], abs=1e-4)
    assert est.lens_confidence > 0.99 and est.fnumber in FULL_STOPS_2_16
    [free] = estimate(spec, outputs, aux, "dof")
    assert free.lens_index is None


def test_custom_lens_validation():
    assert custom_lens("L", "58", "2").aperture_max is None
    with pytest.raises(LensError):
        custom_lens("L", "abc", None)


def test_unknown_lens_error_lists_suggestions(tmp_path):
    with Store(tmp_path / "t.db") as store:
        book = LensBook(store)
        book.add(custom_lens("Jupiter-9", "85", "2-22"))
        with pytest.raises(UnknownLens, match="did you mean 'Jupiter-9'"):
            book.get("Jupiter 8")


def test_every_lens_and_camera_command_has_help():
    for group in (lens_group, camera_group):
        assert group.help
        for name, command in group.commands.items():
            assert isinstance(command, click.Command) and command.help, f"{group.name} {name} has no help"


def test_a_unique_part_of_a_known_name_is_enough(tmp_path):
    with Store(tmp_path / "t.db") as store:
        book = LensBook(store)
        book.add(custom_lens("KMZ Helios-44 58mm 1:2", "58", "2-16"))
        book.add(custom_lens("KMZ Helios-40 85mm", "85", "1.5-22"))
        assert book.get("helios 44").name == "KMZ Helios-44 58mm 1:2"
        with pytest.raises(UnknownLens):
            book.get("helios")  # two lenses match: ambiguous


def test_a_chipped_adapter_photo_placed_on_a_manual_lens_is_predicted_and_its_exif_kept(tmp_path, tiny_model):
    """An adapter's focus-confirm chip writes f/1.4 at 50 mm on every shot. A rule for a lens
    places photos with lens EXIF only once the user says the lens is chipped (else an AF
    photo filed beside manual ones would lose its real EXIF): then scan estimates them like
    any manual-lens photo (as train leaves them out), and --write-exif still never
    overwrites what the file records."""
    root = tmp_path / "lib"
    chip = camera_exif(1.4, 50.0, make="NIKON CORPORATION", model="NIKON D7000", focal35=75)
    for i in range(2):
        make_photo(root / "helios" / f"c{i}.jpg", exif=chip, seed=i)
    make_photo(root / "helios" / "bare.jpg", exif=camera_exif(None, None), seed=4)  # a plain adapter
    make_photo(root / "af" / "af.jpg", exif=camera_exif(4.0, 85.0), seed=5)  # an electronic lens
    db = tmp_path / "t.db"
    assert run("lens", "add", "Helios", "--focal", "58", "--aperture", "2-16", "--db", str(db)).exit_code == 0
    assert run("lens", "assign", "helios", "--folder", str(root / "helios"), "--db", str(db)).exit_code == 0
    first = scan([root], tiny_model, db).output
    assert "3 already had lens EXIF, 1 predicted" in first
    assert rows(db)["bare.jpg"]["lens_name"] == "Helios" and rows(db)["c0.jpg"]["status"] == "has_exif"
    assert "note: 2 photos with lens EXIF match --lens or a rule for Helios" in first  # a forgotten --chipped
    assert "lens chip" in first

    assert "chipped adapter" in run("lens", "chip", "helios", "--db", str(db)).output
    assert "chipped adapter" in run("lens", "list", "--db", str(db)).output
    result = scan([root], tiny_model, db, "--write-exif", "--min-confidence", "0")
    # the changed lens redoes its rule's photos; af.jpg, which no rule matches, is skipped
    assert "0 already had lens EXIF, 3 predicted, 1 unchanged" in result.output, result.output
    assert "note:" not in result.output
    got = rows(db)
    assert got["af.jpg"]["status"] == "has_exif" and got["af.jpg"]["fnumber"] is None
    for name in ("c0.jpg", "c1.jpg"):
        r = got[name]
        assert r["status"] == "predicted" and r["lens_name"] == "Helios" and r["lens_source"] == "rule"
        assert r["focal_length"] == 58.0 and r["fnumber"] in FULL_STOPS_2_16  # the lens's, not the chip's 50 mm f/1.4
        assert (r["exif_fnumber"], r["exif_focal_length"]) == (1.4, 50.0)  # what the file said, kept on record
        with open(root / "helios" / name, "rb") as handle:
            meta = read_metadata(handle.read())
        assert (meta.fnumber, meta.focal_length) == (1.4, 50.0)  # recorded values are never overwritten

    assert "chipped" not in run("lens", "chip", "helios", "--off", "--db", str(db)).output
    assert "2 already had lens EXIF, 1 predicted, 1 unchanged" in scan([root], tiny_model, db).output
    assert rows(db)["c0.jpg"]["status"] == "has_exif" and rows(db)["c0.jpg"]["lens_name"] is None
    assert run("lens", "unassign", "1", "--db", str(db)).exit_code == 0
    assert "note:" not in scan([root], tiny_model, db).output
