"""The scan pipeline end to end, through the real CLI, on real files and a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from photo_tagger.cli import cli
from helpers import run, rows
from photos import camera_exif, make_photo


def scan(library: Path, model: Path, db: Path, *extra: str):
    return run("scan", str(library), "--db", str(db), "--model", str(model), "--workers", "1", *extra)


def test_scan_records_every_photo_and_predicts_only_missing_lens_exif(library, tiny_model, tmp_path):
    db = tmp_path / "t.db"
    result = scan(library, tiny_model, db)
    assert result.exit_code == 0, result.output
    assert "Summary: 5 found, 2 already had lens EXIF, 3 predicted, 0 unchanged (skipped), 0 failed" in result.output
    assert "CPUExecutionProvider" in result.output
    got = rows(db)
    assert {n: r["status"] for n, r in got.items()} == {
        "a.jpg": "predicted", "b.jpg": "predicted", "zero.jpg": "predicted",
        "c.jpg": "has_exif", "d.jpg": "has_exif",
    }
    for name in ("a.jpg", "b.jpg", "zero.jpg"):
        r = got[name]
        assert 1.0 <= r["fnumber"] <= 32.0
        assert 0.0 < r["fnumber_confidence"] <= 1.0
        assert 10.0 <= r["focal_length_35mm"] <= 800.0
        assert 0.0 < r["focal_length_confidence"] <= 1.0
        assert r["model_version"] == "tiny-1"
        assert r["provider"] == "CPUExecutionProvider"
    # the EXIF values are recorded as read; FNumber 0 counts as missing
    assert got["zero.jpg"]["exif_fnumber"] is None and got["zero.jpg"]["exif_focal_length"] == 35.0
    assert got["c.jpg"]["exif_fnumber"] == 4.0 and got["c.jpg"]["fnumber"] is None
    assert got["a.jpg"]["exif_exposure_time"] == pytest.approx(1 / 125)
    assert got["a.jpg"]["exif_iso"] == 200
    # the body is known: crop factor from the 35 mm tag, else lensfun; real focal derived from it
    assert got["d.jpg"]["crop_factor"] == 1.5 and got["d.jpg"]["crop_factor_source"] == "exif_35mm"
    assert got["a.jpg"]["crop_factor"] == 1.0 and got["a.jpg"]["crop_factor_source"] == "lensfun"
    assert got["a.jpg"]["focal_length"] == pytest.approx(got["a.jpg"]["focal_length_35mm"], abs=0.1)


def test_predictions_differ_between_photos(library, tiny_model, tmp_path):
    db = tmp_path / "t.db"
    scan(library, tiny_model, db, "--all")
    got = rows(db)
    values = {(r["fnumber"], r["focal_length_35mm"]) for r in got.values()}
    assert len(values) > 1, "every photo got the same prediction: the inputs are not reaching the model"


def test_second_scan_of_unchanged_library_predicts_nothing(library, tiny_model, tmp_path):
    db = tmp_path / "t.db"
    scan(library, tiny_model, db)
    again = scan(library, tiny_model, db)
    assert "5 found, 0 already had lens EXIF, 0 predicted, 5 unchanged (skipped), 0 failed" in again.output
    assert "nothing changed since the last scan" in again.output


def test_changed_file_new_model_and_force_are_redone(library, tiny_model, tmp_path):
    db = tmp_path / "t.db"
    scan(library, tiny_model, db)
    photo = library / "manual" / "a.jpg"
    make_photo(photo, size=(200, 100), exif=camera_exif(None, None), seed=9)
    os.utime(photo, ns=(1, 10**18))
    changed = scan(library, tiny_model, db)
    assert "1 predicted, 4 unchanged" in changed.output

    from tinymodel import build_tiny_model, tiny_spec
    newer = build_tiny_model(tmp_path / "newer.onnx", tiny_spec("tiny-2"), seed=1)
    upgraded = scan(library, newer, db)
    assert "3 predicted, 2 unchanged" in upgraded.output
    assert {r["model_version"] for r in rows(db).values() if r["status"] == "predicted"} == {"tiny-2"}

    forced = scan(library, newer, db, "--force")
    assert "2 already had lens EXIF, 3 predicted, 0 unchanged" in forced.output


def test_all_predicts_labeled_photos_too_and_report_shows_accuracy(library, tiny_model, tmp_path):
    db = tmp_path / "t.db"
    result = scan(library, tiny_model, db, "--all")
    assert "2 already had lens EXIF (2 of them estimated to check the model), 3 predicted" in result.output
    got = rows(db)
    assert got["c.jpg"]["status"] == "has_exif" and got["c.jpg"]["fnumber"] is not None
    report = json.loads(run("report", "--db", str(db), "--format", "json").output)
    acc = report["accuracy_on_exif_photos"]
    assert acc["photos"] == 2
    expected = 100 * (abs(got["c.jpg"]["fnumber"] - 4.0) / 4.0 + abs(got["d.jpg"]["fnumber"] - 8.0) / 8.0) / 2
    assert acc["fnumber_mape"] == pytest.approx(expected, abs=0.1)


def test_parallel_workers_give_the_same_results_as_in_process(library, tiny_model, tmp_path):
    one, two = tmp_path / "one.db", tmp_path / "two.db"
    scan(library, tiny_model, one)
    result = run("scan", str(library), "--db", str(two), "--model", str(tiny_model), "--workers", "2", "--batch-size", "2")
    assert result.exit_code == 0, result.output
    keys = ("status", "fnumber", "fnumber_confidence", "focal_length_35mm", "crop_factor")
    strip = lambda db: {n: tuple(r[k] for k in keys) for n, r in rows(db).items()}  # noqa: E731
    assert strip(one) == strip(two)


def test_orientation_is_applied_before_the_model_sees_the_photo(tmp_path, tiny_model):
    from photo_tagger.preprocess import decode

    upright = make_photo(tmp_path / "up.jpg", size=(160, 80), exif=camera_exif(None, None, orientation=1))
    rotated = make_photo(tmp_path / "rot.jpg", size=(160, 80), exif=camera_exif(None, None, orientation=6))
    assert decode(upright.read_bytes(), 32).size[0] > decode(upright.read_bytes(), 32).size[1]
    w, h = decode(rotated.read_bytes(), 32).size
    assert h > w, "orientation 6 must turn a landscape frame into a portrait one"


def test_report_and_export(library, tiny_model, tmp_path):
    db = tmp_path / "t.db"
    scan(library, tiny_model, db)
    table = run("report", "--db", str(db))
    assert table.exit_code == 0
    assert "estimated (no lens EXIF)" in table.output and "CPUExecutionProvider" in table.output
    # bodies by the name a photographer knows them by, the make not repeated (EXIF: Canon / Canon EOS 5D Mark II)
    assert "Canon EOS 5D Mark II" in table.output and "Canon Canon" not in table.output
    assert "SONY ILCE-7M3" in table.output
    out = tmp_path / "rows.csv"
    assert run("export", "--db", str(db), "--format", "csv", "-o", str(out)).exit_code == 0
    import csv

    exported = list(csv.DictReader(out.open()))
    assert len(exported) == 5
    assert set(exported[0]) >= {"path", "status", "error", "camera_make", "camera_model", "crop_factor",
                                "crop_factor_source", "exif_fnumber", "exif_focal_length", "exif_exposure_time",
                                "exif_iso", "fnumber", "fnumber_confidence", "focal_length", "focal_length_35mm",
                                "focal_length_confidence", "model_version", "written"}
    lines = run("export", "--db", str(db)).output.strip().splitlines()
    assert len(lines) == 5 and json.loads(lines[0])["path"].endswith(".jpg")


def test_state_lives_under_phototag_home(library, tiny_model, phototag_home):
    result = run("scan", str(library), "--model", str(tiny_model), "--workers", "1")
    assert result.exit_code == 0, result.output
    assert (phototag_home / "phototag.db").is_file()


def test_cuda_requested_without_cuda_is_a_clear_error(library, tiny_model, tmp_path):
    import onnxruntime as ort

    result = CliRunner().invoke(cli, ["scan", str(library), "--db", str(tmp_path / "t.db"), "--model", str(tiny_model), "--device", "cuda"])
    if "CUDAExecutionProvider" in ort.get_available_providers():
        try:
            ort.InferenceSession(str(tiny_model), providers=["CUDAExecutionProvider"])
            if "CUDAExecutionProvider" in ort.InferenceSession(str(tiny_model), providers=["CUDAExecutionProvider"]).get_providers():
                pytest.skip("CUDA really works here")
        except Exception:
            pass
    assert result.exit_code == 1
    assert "CUDA was requested but" in result.output


def test_scan_as_a_subprocess(library, tiny_model, tmp_path):
    """The installed console script, not just the click object."""
    env = {**os.environ, "PHOTOTAG_HOME": str(tmp_path / "home")}
    exe = Path(sys.executable).with_name("phototag")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "photo_tagger"]
    done = subprocess.run([*cmd, "scan", str(library), "--model", str(tiny_model)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().startswith("Summary: 5 found")
    assert "Traceback" not in done.stderr and "onnxruntime" not in done.stderr.lower().replace("cpuexecutionprovider", "")
