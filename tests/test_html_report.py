"""`report --html`: the page opens in a real headless Chromium, every thumbnail loads, its
counts are those of `report --format json`, and it is not blank."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import run
from photo_tagger.thumbs import ThumbCache

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PORTFOLIO = SHARED / "portfolio" / "cpowell720+thenewsprint.co"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
EXIFTOOL = shutil.which("exiftool")
pytestmark = [pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (apt-get install chromium)"),
              pytest.mark.skipif(EXIFTOOL is None or not PORTFOLIO.is_dir(), reason="needs exiftool and ../shared/data")]


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> tuple[Path, dict]:
    """A small real library (stripped and labeled portfolio photos, a damaged file, a
    screenshot), scanned with --all and written, and its report as page and JSON."""
    root = tmp_path_factory.mktemp("html")
    lib = root / "lib"
    lib.mkdir()
    photos = sorted(PORTFOLIO.glob("*.jpg"))[:12]
    for i, src in enumerate(photos):
        shutil.copyfile(src, lib / src.name)
        if i % 3:  # two in three become manual-lens copies; the rest keep their lens EXIF
            subprocess.run([EXIFTOOL, "-q", "-overwrite_original", "-FNumber=", "-FocalLength=",
                            "-FocalLengthIn35mmFormat=", "-Lens*=", "-MakerNotes:all=", str(lib / src.name)], check=True)
    (lib / "damaged.jpg").write_bytes(photos[0].read_bytes()[:3000])
    Image.new("RGB", (300, 200), (230, 230, 230)).save(lib / "screenshot.png")
    db = root / "t.db"
    assert run("scan", str(lib), "--db", str(db), "--model", str(tiny_model), "--all", "--workers", "1").exit_code == 0
    assert run("write", str(lib), "--db", str(db), "--min-confidence", "0").exit_code == 0
    out = root / "report.html"
    result = run("report", "--db", str(db), "--format", "json", "--html", str(out))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    return out, summary


def chromium(*args: str) -> str:
    done = subprocess.run([CHROMIUM or "chromium", "--headless", "--no-sandbox", "--disable-gpu",
                           "--virtual-time-budget=10000", *args], capture_output=True, text=True, timeout=120)
    return done.stdout


def test_every_thumbnail_loads_and_the_counts_are_the_reports(page):
    out, summary = page
    dom = chromium("--dump-dom", out.as_uri())
    body = re.search(r'<body data-images="(\d+)" data-loaded="(\d+)"', dom)
    assert body, "the page's script did not run"
    images, loaded = map(int, body.groups())
    assert images >= 12 and loaded == images
    counts = {name: int(value) for name, value in re.findall(r'data-count="([^"]+)">(\d+)<', dom)}
    status, writes = summary["by_status"], summary["writes"]
    assert counts["photos"] == summary["photos"] == 14
    assert counts["predicted"] == status["predicted"] and counts["has_exif"] == status.get("has_exif", 0)
    assert counts["not_photo"] == status["not_photo"] == 1 and counts["error"] == status["error"] == 1
    assert counts["written"] == writes["written"] > 0 and counts["into_files"] == writes["into_files"]
    embedded = json.loads(re.search(r'<script type="application/json" id="report-json">(.*?)</script>', dom, re.S)
                          .group(1).replace("<\\/", "</"))
    assert embedded["by_status"] == summary["by_status"]
    assert "damaged.jpg" in dom and "screenshot.png" in dom  # the failures are named
    assert "Closest" in dom and "Furthest off" in dom  # --all photos: the reliability section


def test_the_page_is_not_blank(page, tmp_path):
    out, _ = page
    shot = tmp_path / "shot.png"
    chromium("--hide-scrollbars", "--window-size=1200,1400", f"--screenshot={shot}", out.as_uri())
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    assert pixels.std() > 20 and (pixels < 200).mean() > 0.05, "the screenshot is (nearly) empty"


def test_a_thumbnail_is_made_once_and_kept_until_the_photo_changes(tmp_path):
    photo = tmp_path / "a.jpg"
    shutil.copyfile(sorted(PORTFOLIO.glob("*.jpg"))[0], photo)
    cache = ThumbCache(tmp_path / "thumbs")
    info = photo.stat()
    first = cache.get(str(photo), info.st_size, info.st_mtime_ns)
    assert first and Image.open(io.BytesIO(first)).size[0] <= 160
    photo.unlink()  # a second report must not need the photo at all
    assert cache.get(str(photo), info.st_size, info.st_mtime_ns) == first
    assert cache.get(str(photo), info.st_size + 1, info.st_mtime_ns) is None  # changed: made anew, here unreadable
