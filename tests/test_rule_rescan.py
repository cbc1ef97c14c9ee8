"""A lens rule changed, added or deleted redoes only the photos it matched before or matches
now (lensprint.py); every other photo is skipped as unchanged. Real photos, real CLI, the
tiny real model, the real database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from helpers import rows, run
from photos import camera_exif, make_photo

from photo_tagger.lensbook import LensBook
from photo_tagger.store import Store


def scan(root: Path, model: Path, db: Path, *extra: str):  # type: ignore[no-untyped-def]
    result = run("scan", str(root), "--db", str(db), "--model", str(model), "--workers", "1", *extra)
    assert result.exit_code == 0, result.output
    return result.output


def redone(db: Path) -> dict[str, str | None]:
    """Each photo of the last scan's run that was redone in it, with its lens; by file name."""
    got = rows(db)
    last = max(r["run_id"] for r in got.values())
    return {name: r["lens_name"] for name, r in got.items() if r["run_id"] == last}


def rule_for(db: Path, folder: Path) -> int:
    """The id of the rule for this folder (ids are reused once a rule is deleted)."""
    with Store(db) as store:
        return next(rule.id for rule in LensBook(store).rules() if rule.folder == str(folder))


def library(tmp_path: Path) -> tuple[Path, Path, tuple[str, ...]]:
    """Folders a (3 photos) and b (2) of manual-lens photos, and c with one more and an AF
    photo (its lens EXIF kept); lenses Helios and Jupiter-9 declared; one rule, a on Helios."""
    root, db = tmp_path / "lib", tmp_path / "t.db"
    for i in range(3):
        make_photo(root / "a" / f"a{i}.jpg", exif=camera_exif(None, None), seed=i)
    for i in range(2):
        make_photo(root / "b" / f"b{i}.jpg", exif=camera_exif(None, None), seed=10 + i)
    make_photo(root / "c" / "c0.jpg", exif=camera_exif(None, None, make="FUJIFILM", model="X-T2"), seed=20)
    make_photo(root / "c" / "af.jpg", exif=camera_exif(4.0, 85.0), seed=21)
    opts = ("--db", str(db))
    for name, focal, aperture in (("Helios", "58", "2-16"), ("Jupiter-9", "85", "2-22")):
        assert run("lens", "add", name, "--focal", focal, "--aperture", aperture, *opts).exit_code == 0
    assert run("lens", "assign", "helios", "--folder", str(root / "a"), *opts).exit_code == 0
    return root, db, opts


def test_a_rule_changed_added_or_deleted_redoes_only_its_folder(tmp_path, tiny_model):
    root, db, opts = library(tmp_path)
    assert "1 already had lens EXIF, 6 predicted" in scan(root, tiny_model, db)
    assert "0 predicted, 7 unchanged" in scan(root, tiny_model, db)

    # a's rule changed (another lens): a's photos only
    assert run("lens", "unassign", "1", *opts).exit_code == 0
    assert run("lens", "assign", "jupiter-9", "--folder", str(root / "a"), *opts).exit_code == 0
    assert "3 predicted, 4 unchanged" in scan(root, tiny_model, db)
    assert redone(db) == {"a0.jpg": "Jupiter-9", "a1.jpg": "Jupiter-9", "a2.jpg": "Jupiter-9"}

    # a rule for b added: b's photos only
    assert run("lens", "assign", "helios", "--folder", str(root / "b"), *opts).exit_code == 0
    assert "2 predicted, 5 unchanged" in scan(root, tiny_model, db)
    assert redone(db) == {"b0.jpg": "Helios", "b1.jpg": "Helios"}

    # a's rule deleted: a's photos, which it no longer matches, are redone without a lens
    assert run("lens", "unassign", str(rule_for(db, root / "a")), *opts).exit_code == 0
    assert "3 predicted, 4 unchanged" in scan(root, tiny_model, db)
    assert redone(db) == {"a0.jpg": None, "a1.jpg": None, "a2.jpg": None}
    assert rows(db)["b0.jpg"]["lens_name"] == "Helios" and rows(db)["c0.jpg"]["lens_name"] is None


def test_a_rule_widened_redoes_the_photos_it_now_matches_and_keeps_the_rest(tmp_path, tiny_model):
    """A folder rule made wider (a's folder to the whole library) reaches b and c too; the AF
    photo's lens EXIF is looked at again (a chipped lens's rule would place it); a's photos,
    on the same lens as before, are kept."""
    root, db, opts = library(tmp_path)
    scan(root, tiny_model, db)
    assert run("lens", "unassign", "1", *opts).exit_code == 0
    assert run("lens", "assign", "helios", "--folder", str(root), *opts).exit_code == 0
    assert "1 already had lens EXIF, 3 predicted, 3 unchanged" in scan(root, tiny_model, db)
    assert redone(db) == {"b0.jpg": "Helios", "b1.jpg": "Helios", "c0.jpg": "Helios", "af.jpg": None}


def test_camera_rules_lenses_and_crop_factors_redo_only_the_photos_they_touch(tmp_path, tiny_model):
    """A camera rule reaches its body's photos only; a lens no rule names, none; a crop factor
    set for a body, that body's photos."""
    root, db, opts = library(tmp_path)
    scan(root, tiny_model, db)
    assert run("lens", "assign", "jupiter-9", "--camera", "x-t2", *opts).exit_code == 0
    assert "1 predicted, 6 unchanged" in scan(root, tiny_model, db)
    assert redone(db) == {"c0.jpg": "Jupiter-9"}

    assert run("lens", "add", "Zuiko", "--focal", "50", "--aperture", "1.8-16", *opts).exit_code == 0
    assert "0 predicted, 7 unchanged" in scan(root, tiny_model, db)

    assert run("camera", "set", "X-T2", "--crop", "1.6", *opts).exit_code == 0
    assert "1 predicted, 6 unchanged" in scan(root, tiny_model, db)
    assert redone(db) == {"c0.jpg": "Jupiter-9"} and rows(db)["c0.jpg"]["crop_factor"] == 1.6


def test_a_database_from_before_per_photo_fingerprints_is_not_redone(tmp_path, tiny_model):
    """Earlier versions stored one fingerprint of all the lens facts beside every photo. The
    first scan after the upgrade keeps those results (the facts are the same) and relabels
    them, so the next rule change still redoes only its own photos."""
    root, db, opts = library(tmp_path)
    scan(root, tiny_model, db)
    with Store(db) as store:
        legacy = LensBook(store).resolver().fingerprint()
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE photos SET lens_setup = ? WHERE status IN ('predicted', 'has_exif')", [legacy])
    conn.close()
    assert "0 predicted, 7 unchanged" in scan(root, tiny_model, db)
    assert {r["lens_setup"] for r in rows(db).values()} != {legacy}

    assert run("lens", "assign", "jupiter-9", "--folder", str(root / "b"), *opts).exit_code == 0
    assert "2 predicted, 5 unchanged" in scan(root, tiny_model, db)
    assert redone(db) == {"b0.jpg": "Jupiter-9", "b1.jpg": "Jupiter-9"}
