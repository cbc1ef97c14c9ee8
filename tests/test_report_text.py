"""The terminal report of a 60-photo library fits a 50-line screen at 160 columns: five
summary lines, then tables side by side; every body counted, the cut said; failures named."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from helpers import run
from photos import camera_exif, make_photo
from photo_tagger.reporttext import render

BODIES = 34


def library(root: Path) -> None:
    """54 real JPEGs from 34 bodies: half with lens EXIF (checked with --all), half without,
    and six damaged files."""
    for i in range(54):
        body = i % BODIES
        exif = camera_exif(*((4.0, 50.0) if i % 2 else (None, None)), make="Canon", model=f"EOS Test {body:02d}")
        make_photo(root / f"p{i:02d}.jpg", exif=exif, seed=i)
    for i in range(6):
        (root / f"damaged{i}.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a photo at all")


def test_a_60_photo_report_fits_50_lines_at_160_columns(tmp_path, tiny_model):
    root, db = tmp_path / "lib", tmp_path / "t.db"
    library(root)
    assert run("scan", str(root), "--db", str(db), "--model", str(tiny_model), "--all", "--workers", "1").exit_code == 0
    summary = json.loads(run("report", "--db", str(db), "--format", "json").output)
    assert len(summary["cameras"]) == BODIES and summary["photos"] == 60  # every body counted
    console = Console(record=True, width=160)
    render(summary, console)
    text = console.export_text()
    lines = text.rstrip("\n").splitlines()
    assert len(lines) <= 50, text
    assert lines[1].startswith("27 estimated (no lens EXIF), 27 with their own lens EXIF, 0 not camera photos, 6 failed")
    assert "and 27 more (--all-rows)" in text  # 34 bodies, 7 shown
    assert "within one stop" in text and "MAPE" in text and "fnumber_mape" not in text
    assert "damaged3.jpg" in text and "damaged4.jpg" not in text and "and 2 more (`phototag report --errors`" in text

    full = Console(record=True, width=160)
    render(summary, full, all_rows=True, all_errors=True)
    every = full.export_text()
    assert all(f"EOS Test {b:02d}" in every for b in range(BODIES)) and "more (--all-rows)" not in every
    assert all(f"damaged{i}.jpg" in every for i in range(6))
