"""Lens rough edges (issue 32): lens search as people type names, bodies with a built-in lens,
rules for folders not there, and the lens columns of `export`.

The real lensfun database, real photo files (made in tmp_path or copied from ../shared/data),
a real SQLite file, the tiny ONNX model, the real CLI.
"""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pytest

from photo_tagger.camera import body_name
from photo_tagger.errors import PhototagError
from photo_tagger.metadata import read_metadata
from helpers import rows, run
from photos import camera_exif, make_photo

HELIOS = "KMZ Helios-44 58mm 1:2"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"
POWERSHOT = SHARED / "debian+darknet" / "0002.jpg"  # Canon PowerShot S95, lens EXIF f/4 6 mm
KODAK = SHARED / "openMVG+ImageDataset_SceauxCastle" / "0102_100_7107.JPG"  # EASTMAN KODAK COMPANY, KODAK Z612 ...


def _listed(output: str) -> list[str]:
    """The lens names `lens search` printed, in order."""
    return [line.split("  (")[0] for line in output.splitlines() if line.endswith("; lensfun)")]


def _scan(paths: list[Path], model: Path, db: Path, *extra: str):  # type: ignore[no-untyped-def]
    return run("scan", *map(str, paths), "--db", str(db), "--model", str(model), "--workers", "1", *extra)


def _copy(source: Path, to: Path) -> Path:
    if not source.is_file():
        pytest.skip(f"{source} is not here (../shared/data)")
    to.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, to)
    return to


# --- lens search -------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["Helios 44-2", "Helios-44-2", "helios44-2"])
def test_search_finds_the_helios_44_2_however_it_is_typed(typed):
    """lensfun calls the Helios 44-2 'KMZ Helios-44 58mm 1:2'; spaces, hyphens and case do not matter."""
    result = run("lens", "search", typed)
    assert result.exit_code == 0, result.output
    assert _listed(result.output)[0] == HELIOS
    assert "2 lensfun lenses match" in result.output


def test_search_with_no_exact_match_offers_near_matches():
    """lensfun has no Jupiter-9: its Jupiter is offered, and how to describe the lens yourself."""
    result = run("lens", "search", "jupiter-9")
    assert result.exit_code == 0, result.output
    assert "no lensfun lens matches 'jupiter-9'; near matches:" in result.output
    assert _listed(result.output) == ["KMZ Jupiter-37AM MC 3.5/135"]
    assert "phototag lens add NAME --focal" in result.output
    misspelt = run("lens", "search", "jupitor")
    assert _listed(misspelt.output) == ["KMZ Jupiter-37AM MC 3.5/135"]
    nothing = run("lens", "search", "xyzzy plugh")
    assert nothing.exit_code == 0 and _listed(nothing.output) == [] and "Traceback" not in nothing.output


def test_a_whole_word_ranks_above_part_of_a_word():
    """`lens search 44`: the Helios-44s before the 14-42 mm zooms, which still match; 50 mm
    lenses before 500 mm ones; the Zenitars before the Telezenitars."""
    helios = _listed(run("lens", "search", "44").output)
    assert helios[:2] == [HELIOS, "KMZ MC Helios-44M-4 58mm 1:2"]
    assert any("14-42mm" in name for name in helios[2:])
    fifty = _listed(run("lens", "search", "50", "--limit", "10000").output)
    first_500 = next(i for i, name in enumerate(fifty) if "500mm" in name)
    whole_50 = re.compile(r"(?<![\d.])50(?![\d.])")  # 50mm, 2/50, 50-200mm: not 500mm, not 1:1.50
    assert first_500 > 10 and all(whole_50.search(name) for name in fifty[:first_500]), fifty[:first_500]
    zenitar = _listed(run("lens", "search", "zenitar").output)
    assert "Telezenitar" not in zenitar[0] and "Variozenitar" not in zenitar[0]
    assert zenitar.index("KMZ MC Zenitar 2/50") < zenitar.index("KMZ MC APO Telezenitar 2.8/135")


# --- rules that cannot place photos ------------------------------------------------------


def test_rule_for_a_missing_folder_warns_and_is_kept(tmp_path):
    """A folder on an unmounted drive: one warning line, and the rule is saved for later."""
    db = str(tmp_path / "t.db")
    assert run("lens", "add", HELIOS, "--db", db).exit_code == 0
    missing = tmp_path / "unmounted" / "film"
    result = run("lens", "assign", HELIOS, "--folder", str(missing), "--db", db)
    assert result.exit_code == 0, result.output
    assert f"warning: folder {missing} does not exist" in result.output
    assert f"folder {missing} -> {HELIOS}" in run("lens", "rules", "--db", db).output
    unmatched = run("lens", "assign", HELIOS, "--folder", str(tmp_path / "roll-*"), "--db", db)
    assert "does not exist" in unmatched.output
    (tmp_path / "roll-1").mkdir()
    here = run("lens", "assign", HELIOS, "--folder", str(tmp_path / "roll-*"), "--db", db)
    there = run("lens", "assign", HELIOS, "--folder", str(tmp_path), "--db", db)
    assert "warning" not in here.output and "warning" not in there.output


def test_rule_for_a_body_with_a_built_in_lens_warns(tmp_path):
    """A phone, a compact lensfun knows: a warning; an interchangeable-lens body: none."""
    db = str(tmp_path / "t.db")
    assert run("lens", "add", HELIOS, "--db", db).exit_code == 0
    phone = run("lens", "assign", HELIOS, "--camera", "iPhone 7", "--db", db)
    assert phone.exit_code == 0 and "warning: camera iPhone 7 has a built-in lens (a phone)" in phone.output
    compact = run("lens", "assign", HELIOS, "--camera", "Canon PowerShot S95", "--db", db)
    assert "has a built-in lens (lensfun lists its built-in lens)" in compact.output
    slr = run("lens", "assign", HELIOS, "--camera", "NIKON D90", "--db", db)
    mixed = run("lens", "assign", HELIOS, "--camera", "Canon*", "--db", db)  # EOS and PowerShot alike
    assert "warning" not in slr.output and "warning" not in mixed.output
    assert run("lens", "rules", "--db", db).output.count(HELIOS) == 4


def test_a_declared_lens_is_not_applied_to_phones_and_compacts(tmp_path, tiny_model):
    """A rule (and --lens) for a chipped Helios over a folder that also holds a phone's, a
    compact's and a small-sensor body's photos places only the SLR's photo on the lens."""
    folder = tmp_path / "roll"
    make_photo(folder / "eos.jpg", exif=camera_exif(None, None), seed=1)
    make_photo(folder / "phone.jpg", exif=camera_exif(None, None, make="Apple", model="iPhone 7"), seed=2)
    # a body neither lensfun nor the phone list knows, with a 6 mm lens that is 28 mm in 35 mm terms
    make_photo(folder / "tiny.jpg", exif=camera_exif(None, 6.0, make="Acme", model="Snap 1", focal35=28), seed=3)
    _copy(POWERSHOT, folder / "s95.jpg")  # lens EXIF: a chipped lens's rule would take it
    db = tmp_path / "t.db"
    assert run("lens", "add", HELIOS, "--chipped", "--db", str(db)).exit_code == 0
    assert run("lens", "assign", HELIOS, "--folder", str(folder), "--db", str(db)).exit_code == 0
    result = _scan([folder], tiny_model, db)
    assert result.exit_code == 0, result.output
    found = rows(db)
    assert found["eos.jpg"]["lens_name"] == HELIOS
    assert {name: found[name]["lens_name"] for name in ("phone.jpg", "tiny.jpg", "s95.jpg")} == dict.fromkeys(
        ("phone.jpg", "tiny.jpg", "s95.jpg"))
    assert found["s95.jpg"]["status"] == "has_exif" and found["s95.jpg"]["exif_fnumber"] == 4.0
    assert "note: 1 photos from Apple iPhone 7 (a phone) match --lens or a rule" in result.output
    assert "note: 1 photos from Canon PowerShot S95 (lensfun lists its built-in lens)" in result.output
    assert "note: 1 photos from Acme Snap 1 (a crop factor of 4.7: " in result.output
    forced = _scan([folder], tiny_model, tmp_path / "forced.db", "--lens", HELIOS)
    assert forced.exit_code == 1  # the lens is in the other database; the same with it added:
    assert run("lens", "add", HELIOS, "--db", str(tmp_path / "forced.db")).exit_code == 0
    forced = _scan([folder], tiny_model, tmp_path / "forced.db", "--lens", HELIOS)
    placed = {name: row["lens_name"] for name, row in rows(tmp_path / "forced.db").items()}
    assert placed == {"eos.jpg": HELIOS, "phone.jpg": None, "tiny.jpg": None, "s95.jpg": None}
    # the way out: a crop factor set for the body (a phone photographing film through a lens)
    assert run("camera", "set", "iPhone 7", "--crop", "1", "--db", str(db)).exit_code == 0
    assert _scan([folder], tiny_model, db).exit_code == 0
    assert rows(db)["phone.jpg"]["lens_name"] == HELIOS


# --- export ------------------------------------------------------------------------------


def test_export_names_the_lens_the_rule_and_the_body_once(tmp_path, tiny_model):
    """lens and lens_rule say which lens was applied and what placed it; camera names the
    body once ('Canon EOS 5D Mark II', 'KODAK Z612 ZOOM DIGITAL CAMERA')."""
    roll, other = tmp_path / "roll", tmp_path / "other"
    make_photo(roll / "eos.jpg", exif=camera_exif(None, None), seed=1)
    _copy(KODAK, roll / "kodak.jpg")
    make_photo(other / "forced.jpg", exif=camera_exif(None, None, make="NIKON CORPORATION", model="NIKON D90"), seed=2)
    db = str(tmp_path / "t.db")
    assert run("lens", "add", HELIOS, "--db", db).exit_code == 0
    assert run("lens", "add", "Jupiter-9", "--focal", "85", "--aperture", "2-16", "--db", db).exit_code == 0
    assert run("lens", "assign", HELIOS, "--folder", str(roll), "--db", db).exit_code == 0
    assert _scan([roll], tiny_model, Path(db)).exit_code == 0
    assert _scan([other], tiny_model, Path(db), "--lens", "Jupiter-9").exit_code == 0
    out = tmp_path / "rows.csv"
    assert run("export", "--db", db, "--format", "csv", "-o", str(out)).exit_code == 0
    exported = {Path(r["path"]).name: r for r in csv.DictReader(out.open(encoding="utf-8"))}
    assert (exported["eos.jpg"]["lens"], exported["eos.jpg"]["lens_rule"]) == (HELIOS, f"rule 1: folder {roll}")
    assert (exported["forced.jpg"]["lens"], exported["forced.jpg"]["lens_rule"]) == ("Jupiter-9", "scan --lens")
    assert (exported["kodak.jpg"]["lens"], exported["kodak.jpg"]["lens_rule"]) == ("", "")
    assert [exported[n]["camera"] for n in ("eos.jpg", "kodak.jpg", "forced.jpg")] == [
        "Canon EOS 5D Mark II", "KODAK Z612 ZOOM DIGITAL CAMERA", "NIKON D90"]
    assert exported["kodak.jpg"]["camera_make"] == "EASTMAN KODAK COMPANY"  # as EXIF says it, still
    run("lens", "unassign", "1", "--db", db)
    jsonl = run("export", "--db", db).output
    assert '"lens_rule": "a rule changed since the scan: scan again"' in jsonl


def test_body_name_of_every_shared_photo_repeats_no_make():
    """Across the shared photos' real Make/Model pairs, the body's name never starts with
    the make's word twice ('EASTMAN KODAK COMPANY KODAK ...', 'Canon Canon ...')."""
    if not SHARED.is_dir():
        pytest.skip("../shared/data is not here")
    repeated, checked = [], 0
    for path in sorted(SHARED.glob("*/*.[jJ][pP][gG]")):
        try:
            meta = read_metadata(path.read_bytes())
        except PhototagError:
            continue
        make, model = meta.make, meta.model
        if make and model and model.split() and model.split()[0].casefold() in make.casefold().split():
            checked += 1
            name = body_name(make, model)
            if name.casefold().split().count(model.split()[0].casefold()) > 1:
                repeated.append(name)
    assert checked > 100 and not repeated, repeated[:5]
