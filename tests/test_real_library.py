"""Issue 31's whole case in one scan: a folder holding a RAW+JPEG pair, the HEIC photos, an
AI-marked JPEG and a screenshot PNG, all as a manual lens leaves them. One command predicts
the photos, makes the pair one shot, leaves the two non-photos alone, writes sidecars where
darktable and exiftool look for them, and undo restores every byte."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from PIL import Image

from helpers import rows, run
from test_formats import EXIFTOOL, FORMATS, HEICS, RAW, digests, exiftool, manual_copy, scan
from test_pairs import JPEG, make_pair

SHARED_PHOTO = FORMATS.parent / "photos" / "debian+kphotoalbum" / "0013.jpg"
AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
pytestmark = [pytest.mark.skipif(EXIFTOOL is None, reason="needs exiftool"),
              pytest.mark.skipif(not (FORMATS / RAW).is_file() or not SHARED_PHOTO.is_file(),
                                 reason="needs ../shared/data")]


def test_one_scan_of_a_mixed_folder(tmp_path, tiny_model):
    lib, db = tmp_path / "lib", tmp_path / "t.db"
    make_pair(lib)
    for name in HEICS:
        manual_copy(name, lib)
    ai = lib / "ai.jpg"
    shutil.copyfile(SHARED_PHOTO, ai)
    subprocess.run([EXIFTOOL, "-q", "-overwrite_original", "-FNumber=", "-FocalLength=",
                    f"-XMP-iptcExt:DigitalSourceType={AI}", str(ai)], check=True)
    Image.new("RGB", (400, 250), (240, 240, 240)).save(lib / "screenshot.png")
    before = digests(lib)

    result = scan(lib, tiny_model, db, "--write-exif", "--min-confidence", "0")
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    found = rows(db)
    assert {n: found[n]["status"] for n in (RAW, JPEG, *HEICS)} == {n: "predicted" for n in (RAW, JPEG, *HEICS)}
    assert found[RAW]["shot_of"] == str(lib / JPEG) and found[RAW]["fnumber"] == found[JPEG]["fnumber"]
    assert found["ai.jpg"]["status"] == found["screenshot.png"]["status"] == "not_photo"
    assert found["ai.jpg"]["not_photo"] and found["screenshot.png"]["not_photo"]
    for name in ("ai.jpg", "screenshot.png", RAW, *HEICS):  # never written into
        assert digests(lib)[name] == before[name], name
    for name in (RAW, *HEICS):  # the sidecars darktable and exiftool expect
        assert exiftool(lib / f"{name}.xmp")["XMP-exif:FNumber"] == pytest.approx(round(found[name]["fnumber"], 1))
    assert not (lib / "ai.jpg.xmp").exists() and not (lib / "screenshot.png.xmp").exists()

    assert run("undo", str(lib), "--db", str(db)).exit_code == 0
    assert digests(lib) == before
