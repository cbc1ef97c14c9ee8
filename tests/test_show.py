"""`phototag show` and `phototag undo --last` on real photos: copies of a real camera's
JPEGs, two stripped of their lens EXIF and one keeping it, scanned with the tiny real ONNX
model and written through the real CLI; results read back from the database and the files."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import rows, run, writes
from photo_tagger.library import decode_probs

PORTFOLIO = Path(__file__).resolve().parents[2] / "shared" / "data" / "portfolio" / "cpowell720+thenewsprint.co"
MANUAL_1 = PORTFOLIO / "0298.jpg"  # Olympus E-M10, f/1.7 20 mm, 1/4000 s ISO 200
MANUAL_2 = PORTFOLIO / "0293.jpg"
WITH_LENS = PORTFOLIO / "0297.jpg"  # keeps its lens EXIF: f/1.7, 20 mm, LUMIX G 20/F1.7 II
STRIP = ["-FNumber=", "-FocalLength=", "-FocalLengthIn35mmFormat=", "-Lens*=", "-MakerNotes:all="]
# the tiny model's bins (f/1 .. f/32 in third stops) summed per full stop, lowest first
FULL_STOPS = ("f/1", "f/1.4", "f/2", "f/2.8", "f/4", "f/5.6", "f/8", "f/11", "f/16", "f/22", "f/32")
BAR_LINE = re.compile(r"^\s+(f/[\d.]+) ([█▏]*)\s+(\d+\.\d)%( +◀ estimate)?$")

pytestmark = pytest.mark.skipif(not (MANUAL_1.exists() and shutil.which("exiftool")),
                                reason="needs the shared portfolio photos and exiftool")


def copy(src: Path, dst: Path, strip: bool) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    if strip:
        subprocess.run(["exiftool", "-q", *STRIP, "-overwrite_original", str(dst)], check=True)
    return dst


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def lib(tmp_path: Path, tiny_model: Path) -> dict:
    """Two manual-lens photos in two folders and one with lens EXIF, scanned, then written
    in two runs (first folder, then second), with each file's hash before the writes."""
    root = tmp_path / "lib"
    photos = {
        "m1": copy(MANUAL_1, root / "first" / "m1.jpg", strip=True),
        "exif": copy(WITH_LENS, root / "first" / "exif.jpg", strip=False),
        "m2": copy(MANUAL_2, root / "second" / "m2.jpg", strip=True),
    }
    db = tmp_path / "state.db"
    scanned = run("scan", str(root), "--db", str(db), "--model", str(tiny_model), "--workers", "1")
    assert scanned.exit_code == 0, scanned.output
    before = {name: digest(path) for name, path in photos.items()}
    for folder in ("first", "second"):
        written = run("write", str(root / folder), "--db", str(db), "--min-confidence", "0")
        assert written.exit_code == 0 and "1 written" in written.output, written.output
    return {"root": root, "db": db, "photos": photos, "before": before}


def show(lib: dict, *args: str):  # type: ignore[no-untyped-def]
    return run("show", *args, "--db", str(lib["db"]))


def test_show_prints_estimate_chart_write_and_undo(lib: dict) -> None:
    path = lib["photos"]["m1"]
    row = rows(lib["db"])["m1.jpg"]
    write = next(w for w in writes(lib["db"]) if w["path"] == str(path))
    result = show(lib, str(path))
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.splitlines()[0] == str(path)
    assert "E-M10" in out and "exposure 1/4000 s" in out and "ISO 200" in out and "FNumber -" in out
    assert f"FNumber f/{row['fnumber']:g}, confidence {row['fnumber_confidence']:.2f}" in out
    assert f"{row['focal_length_35mm']:g} mm in 35 mm, confidence {row['focal_length_confidence']:.2f}" in out
    assert f"rests on    {row['fnumber_source']}" in out
    bars = [BAR_LINE.match(line) for line in out.splitlines()]
    bars = [m for m in bars if m]
    assert tuple(m.group(1) for m in bars) == FULL_STOPS  # one line per full stop, lowest first
    assert sum(float(m.group(3)) for m in bars) == pytest.approx(100.0, abs=0.6)
    assert sum(bool(m.group(4)) for m in bars) == 1
    assert max(bars, key=lambda m: float(m.group(3))).group(2) == "█" * 30  # the tallest bar is full
    assert f"into the file, run {write['run_id']}" in out
    assert f"`phototag undo {path}`" in out and f"`phototag undo --run {write['run_id']}`" in out
    held = show(lib, str(lib["photos"]["exif"]))
    assert held.exit_code == 0 and "has lens EXIF" in held.output and "FNumber f/1.7" in held.output
    assert "lens LUMIX G 20/F1.7 II" in held.output and "phototag undo" not in held.output


def test_show_json_matches_the_database_row(lib: dict) -> None:
    path = lib["photos"]["m2"]
    result = show(lib, str(path), "--format", "json")
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.output)
    row = rows(lib["db"])["m2.jpg"]
    shown = record["photo"]
    for column, value in row.items():
        if column == "model_fnumber_probs":
            assert shown[column] == pytest.approx(list(decode_probs(value)))
        elif column == "path_bytes":  # the raw name of a non-UTF-8 path: not JSON, and "path" shows it
            assert column not in shown
        else:
            assert shown[column] == value, column
    distribution = record["fnumber_distribution"]
    assert [g["label"] for g in distribution["groups"]] == list(FULL_STOPS)
    assert sum(g["probability"] for g in distribution["groups"]) == pytest.approx(1.0, abs=1e-3)
    assert distribution["probs"] == pytest.approx(shown["model_fnumber_probs"], abs=1e-5)
    assert "tiny.onnx" in distribution["bins_from"]
    (write,) = [w for w in writes(lib["db"]) if w["path"] == str(path)]
    assert [(w["run_id"], w["method"], w["in_effect"]) for w in record["writes"]] == [(write["run_id"], "exif", True)]
    assert record["undo"] == [f"phototag undo {path}", f"phototag undo --run {write['run_id']}"]


def test_show_of_an_unscanned_photo_says_how_to_scan_it(lib: dict, tmp_path: Path) -> None:
    new = copy(MANUAL_1, tmp_path / "later" / "new.jpg", strip=True)
    alone = show(lib, str(new))
    assert alone.exit_code == 1
    assert alone.output.strip() == f"{new}: not in the database: scan it with `phototag scan {new}`"
    mixed = show(lib, str(new), str(lib["photos"]["m1"]))
    assert mixed.exit_code == 0  # one of them was found
    assert "not in the database" in mixed.output and "into the file, run" in mixed.output


def test_show_names_the_lens_rule(lib: dict, tiny_model: Path) -> None:
    db = ("--db", str(lib["db"]))
    second = lib["root"] / "second"
    assert run("lens", "add", "Helios 44-2", "--focal", "58", "--aperture", "2-16", *db).exit_code == 0
    assert run("lens", "assign", "Helios 44-2", "--folder", str(second), *db).exit_code == 0
    assert run("scan", str(second), "--model", str(tiny_model), "--workers", "1", *db).exit_code == 0
    out = show(lib, str(lib["photos"]["m2"])).output
    assert "Helios 44-2, placed by a lens rule" in out
    assert f"rule 1: folder {second}" in out
    assert "58 mm real" in out and "(the lens's own)" in out


def test_undo_last_takes_back_the_newest_write_run_first(lib: dict) -> None:
    photos, before, db = lib["photos"], lib["before"], ("--db", str(lib["db"]))
    first_run, second_run = sorted({w["run_id"] for w in writes(lib["db"])})
    written = {name: digest(path) for name, path in photos.items()}
    assert written["m1"] != before["m1"] and written["m2"] != before["m2"]

    result = run("undo", "--last", *db)
    assert result.exit_code == 0, result.output
    assert f"run {second_run}" in result.output and "1 restored" in result.output
    assert digest(photos["m2"]) == before["m2"]  # the second run's file, byte for byte
    assert digest(photos["m1"]) == written["m1"]  # the first run's file stays written

    result = run("undo", "--last", *db)
    assert result.exit_code == 0 and f"run {first_run}" in result.output, result.output
    assert {name: digest(path) for name, path in photos.items()} == before

    result = run("undo", "--last", *db)
    assert result.exit_code == 0
    assert result.output.strip() == "Nothing to undo: no write is in effect."


@pytest.mark.parametrize("extra", [("--run", "1"), ("PATH",)])
def test_undo_last_with_run_or_paths_is_a_usage_error(lib: dict, extra: tuple[str, ...]) -> None:
    args = [str(lib["photos"]["m1"]) if a == "PATH" else a for a in extra]
    result = run("undo", "--last", *args, "--db", str(lib["db"]))
    assert result.exit_code == 2 and "one of --run ID, --last or PATHS" in result.output
    assert {name: digest(path) for name, path in lib["photos"].items()} != lib["before"]  # nothing undone


def test_report_names_the_write_runs_in_effect(lib: dict) -> None:
    first_run, second_run = sorted({w["run_id"] for w in writes(lib["db"])})
    report = run("report", "--format", "json", "--db", str(lib["db"]))
    assert json.loads(report.output)["writes"]["runs_in_effect"] == {str(first_run): 1, str(second_run): 1}
    assert run("undo", "--last", "--db", str(lib["db"])).exit_code == 0
    text = run("report", "--db", str(lib["db"])).output
    (line,) = [line for line in text.splitlines() if "runs in effect" in line]
    assert f"run {first_run} (1 file)" in line and f"run {second_run}" not in line
