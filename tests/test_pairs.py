"""RAW+JPEG pairs: a real Canon EOS 30D CR2 beside a JPEG of the same name made from its
embedded preview and carrying its EXIF, both with their lens tags stripped as a manual
lens leaves them. One scan: the pair is one shot, both rows hold the JPEG's estimate, the
JPEG gets it in-file and the RAW in its sidecar (read back with exiftool), undo restores
both byte for byte. The real CLI, a real database, a tiny real ONNX model.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import pytest
import rawpy
from PIL import Image, ImageEnhance

from helpers import rows, run
from test_formats import EXIFTOOL, FORMATS, RAW, STRIP, digests, exiftool, manual_copy, scan, undo_run

pytestmark = [
    pytest.mark.skipif(EXIFTOOL is None, reason="needs exiftool (apt-get install libimage-exiftool-perl)"),
    pytest.mark.skipif(not (FORMATS / RAW).is_file(), reason=f"needs the test files in {FORMATS}"),
]
JPEG = "IMG_5952.JPG"
# what a RAW takes from its JPEG (pairs.ESTIMATE_COLUMNS, spelled out: the test's own list)
ESTIMATES = ("fnumber", "fnumber_confidence", "fnumber_source", "model_fnumber", "model_fnumber_confidence",
             "model_fnumber_probs", "focal_length", "focal_length_35mm", "focal_length_confidence",
             "focal_length_source", "ev100", "model_version")


def make_pair(folder: Path, strip_jpeg: tuple[str, ...] = tuple(STRIP), taken: str | None = None) -> tuple[Path, Path]:
    """The stripped CR2 and a JPEG of its preview, darkened so the model reads it otherwise
    (the RAW must take the JPEG's estimate, not reach the same one alone), with the CR2's EXIF."""
    raw = manual_copy(RAW, folder)
    with rawpy.imread(str(FORMATS / RAW)) as source:
        preview = Image.open(io.BytesIO(source.extract_thumb().data))
        darker = ImageEnhance.Brightness(preview.convert("RGB")).enhance(0.5)
    jpeg = folder / JPEG
    darker.save(jpeg, quality=85)
    subprocess.run([EXIFTOOL, "-q", "-m", "-tagsFromFile", str(FORMATS / RAW), "-all:all", "-overwrite_original",
                    str(jpeg)], check=True)
    if strip_jpeg:
        subprocess.run([EXIFTOOL, "-q", "-m", *strip_jpeg, "-overwrite_original", str(jpeg)], check=True)
    if taken:
        subprocess.run([EXIFTOOL, "-q", f"-DateTimeOriginal={taken}", "-overwrite_original", str(jpeg)], check=True)
    return raw, jpeg


def report(db: Path) -> dict:
    result = run("report", "--db", str(db), "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_a_raw_jpeg_pair_is_one_shot_estimated_once_written_into_both_and_undone(tmp_path, tiny_model):
    lib, db = tmp_path / "lib", tmp_path / "t.db"
    make_pair(lib)
    before = digests(lib)

    result = scan(lib, tiny_model, db, "--write-exif", "--min-confidence", "0")
    assert result.exit_code == 0, result.output
    found = rows(db)
    raw, jpeg = found[RAW], found[JPEG]
    assert raw["status"] == jpeg["status"] == "predicted", (raw, jpeg)
    assert raw["shot_of"] == str(lib / JPEG) and jpeg["shot_of"] is None
    assert {c: raw[c] for c in ESTIMATES} == {c: jpeg[c] for c in ESTIMATES}
    assert raw["fnumber"] and raw["focal_length"]

    summary = report(db)
    assert (summary["files"], summary["shots"], summary["raw_jpeg_pairs"]) == (2, 1, 1)
    table = run("report", "--db", str(db))
    assert ": 2 files, 1 shot (1 RAW+JPEG pair)" in table.output, table.output

    assert "2 written (1 into XMP sidecars)" in result.output, result.output
    in_file, sidecar = exiftool(lib / JPEG), exiftool(lib / f"{RAW}.xmp")
    assert in_file["ExifIFD:FNumber"] == sidecar["XMP-exif:FNumber"] == pytest.approx(round(jpeg["fnumber"], 1))
    assert in_file["ExifIFD:FocalLength"] == sidecar["XMP-exif:FocalLength"]
    assert digests(lib)[RAW] == before[RAW], "the RAW itself is never rewritten"

    undo_run(result.output, db)
    assert digests(lib) == before, "undo restores the JPEG and removes the RAW's sidecar"


def test_same_name_taken_at_different_times_is_two_shots(tmp_path, tiny_model):
    lib, db = tmp_path / "lib", tmp_path / "t.db"
    make_pair(lib, taken="2009:07:21 13:04:20")  # a minute later: a name reused, not one shot

    assert scan(lib, tiny_model, db).exit_code == 0
    found = rows(db)
    assert found[RAW]["status"] == found[JPEG]["status"] == "predicted"
    assert found[RAW]["shot_of"] is None
    assert found[RAW]["model_fnumber_probs"] != found[JPEG]["model_fnumber_probs"], "each keeps its own estimate"
    summary = report(db)
    assert (summary["files"], summary["shots"], summary["raw_jpeg_pairs"]) == (2, 2, 0)


def test_the_shot_has_lens_exif_when_its_jpeg_does(tmp_path, tiny_model):
    """The JPEG keeps FNumber and focal length (a lens with a chip), its RAW lost them:
    the RAW is no manual-lens photo, so it gets no estimate and no sidecar."""
    lib, db = tmp_path / "lib", tmp_path / "t.db"
    make_pair(lib, strip_jpeg=())
    before = digests(lib)

    result = scan(lib, tiny_model, db, "--write-exif", "--min-confidence", "0")
    assert result.exit_code == 0, result.output
    found = rows(db)
    assert found[JPEG]["status"] == found[RAW]["status"] == "has_exif", found[RAW]
    assert found[RAW]["fnumber"] is None and found[RAW]["shot_of"] == str(lib / JPEG)
    assert digests(lib) == before, "nothing is written into either file"
    again = scan(lib, tiny_model, db, "--write-exif", "--min-confidence", "0")  # the RAW is read again
    assert again.exit_code == 0 and rows(db)[RAW]["status"] == "has_exif", again.output
    assert digests(lib) == before


def test_a_value_one_file_records_is_written_into_neither(tmp_path, tiny_model):
    """The JPEG records its FNumber and no focal length; the RAW records neither. The RAW's
    sidecar must not carry an estimated FNumber that the JPEG's own EXIF contradicts."""
    lib, db = tmp_path / "lib", tmp_path / "t.db"
    strip_focal = ("-FocalLength=", "-FocalLengthIn35mmFormat=", "-Lens*=", "-MakerNotes:all=")
    raw, jpeg = make_pair(lib, strip_jpeg=strip_focal)
    recorded = exiftool(jpeg)["ExifIFD:FNumber"]

    result = scan(lib, tiny_model, db, "--write-exif", "--min-confidence", "0")
    assert result.exit_code == 0, result.output
    found = rows(db)
    assert found[RAW]["status"] == found[JPEG]["status"] == "predicted"
    assert found[RAW]["fnumber"] is None and found[JPEG]["fnumber"] is None
    assert found[RAW]["focal_length"] == found[JPEG]["focal_length"] is not None
    sidecar = exiftool(lib / f"{RAW}.xmp")
    assert "XMP-exif:FNumber" not in sidecar and sidecar["XMP-exif:FocalLength"], sidecar
    assert exiftool(jpeg)["ExifIFD:FNumber"] == recorded


def test_a_pair_stays_one_estimate_when_only_the_raw_is_scanned_again(tmp_path, tiny_model):
    lib, db = tmp_path / "lib", tmp_path / "t.db"
    raw, _ = make_pair(lib)
    assert scan(lib, tiny_model, db).exit_code == 0
    stat = raw.stat()
    os.utime(raw, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # touched: scanned again, its JPEG not

    again = scan(lib, tiny_model, db)
    assert "1 predicted, 1 unchanged" in again.output, again.output
    found = rows(db)
    assert found[RAW]["shot_of"] == str(lib / JPEG)
    assert {c: found[RAW][c] for c in ESTIMATES} == {c: found[JPEG][c] for c in ESTIMATES}
