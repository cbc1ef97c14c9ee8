"""`report PATHS` and `export PATHS` count only the photos at or under the paths, as `write`
and `undo` pick them (writeback.selected). Real photos, real CLI, the tiny real model."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from helpers import run
from photos import camera_exif, make_photo


def scanned(tmp_path: Path, tiny_model: Path) -> tuple[Path, Path]:
    """a: 3 manual-lens photos; ab (a name a starts): 2 more and an AF photo."""
    root, db = tmp_path / "lib", tmp_path / "t.db"
    for i in range(3):
        make_photo(root / "a" / f"a{i}.jpg", exif=camera_exif(None, None), seed=i)
    for i in range(2):
        make_photo(root / "ab" / f"ab{i}.jpg", exif=camera_exif(None, None, make="FUJIFILM", model="X-T2"), seed=10 + i)
    make_photo(root / "ab" / "af.jpg", exif=camera_exif(4.0, 85.0), seed=20)
    result = run("scan", str(root), "--db", str(db), "--model", str(tiny_model), "--workers", "1")
    assert result.exit_code == 0, result.output
    return root, db


def report(db: Path, *args: str) -> dict:
    result = run("report", *args, "--db", str(db), "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_report_with_a_path_counts_only_that_folder(tmp_path, tiny_model):
    root, db = scanned(tmp_path, tiny_model)
    assert run("write", str(root / "ab"), "--db", str(db), "--min-confidence", "0").exit_code == 0
    whole, a, ab = report(db), report(db, str(root / "a")), report(db, str(root / "ab"))
    assert whole["photos"] == 6 and whole["by_status"] == {"predicted": 5, "has_exif": 1}
    assert a["photos"] == 3 and a["by_status"] == {"predicted": 3}  # not ab's, though 'ab' starts with 'a'
    assert ab["photos"] == 3 and ab["by_status"] == {"predicted": 2, "has_exif": 1}
    assert a["cameras"] == {"Canon EOS 5D Mark II": 3}
    assert ab["cameras"] == {"FUJIFILM X-T2": 2, "Canon EOS 5D Mark II": 1}
    assert sum(a["fnumber"].values()) + sum(ab["fnumber"].values()) == sum(whole["fnumber"].values())
    assert whole["writes"]["written"] == ab["writes"]["written"] == 2 and a["writes"]["written"] == 0
    assert a["writes"]["values"]["FNumber"] == 0 < ab["writes"]["values"]["FNumber"]
    assert report(db, str(root / "a"), str(root / "ab")) == whole  # both folders: the whole library
    assert report(db, str(root / "a" / "a1.jpg"))["photos"] == 1  # a file is a path too

    empty = run("report", str(root / "nowhere"), "--db", str(db))
    assert empty.exit_code == 0 and "no photo at or under" in empty.output


def test_export_with_a_path_writes_only_that_folders_rows(tmp_path, tiny_model):
    root, db = scanned(tmp_path, tiny_model)
    whole = run("export", "--db", str(db)).output.splitlines()
    only_a = run("export", str(root / "a"), "--db", str(db)).output.splitlines()
    assert len(whole) == 6
    assert [json.loads(line)["path"] for line in only_a] == [str(root / "a" / f"a{i}.jpg") for i in range(3)]
    assert only_a == [line for line in whole if json.loads(line)["path"].startswith(str(root / "a") + "/")]
    out = tmp_path / "ab.csv"
    result = run("export", str(root / "ab"), "--db", str(db), "--format", "csv", "-o", str(out))
    assert result.exit_code == 0 and "3 rows written" in result.output
    names = sorted(Path(r["path"]).name for r in csv.DictReader(io.StringIO(out.read_text())))
    assert names == ["ab0.jpg", "ab1.jpg", "af.jpg"]


def test_the_html_report_honours_the_paths(tmp_path, tiny_model):
    root, db = scanned(tmp_path, tiny_model)
    page = tmp_path / "a.html"
    result = run("report", str(root / "a"), "--db", str(db), "--format", "json", "--html", str(page))
    assert result.exit_code == 0, result.output
    assert "(3 photos shown)" in result.output
    text = page.read_text()
    assert "a0.jpg" in text and "ab0.jpg" not in text and "af.jpg" not in text
    embedded = re.search(r'<script type="application/json" id="report-json">(.*?)</script>', text, re.S)
    assert embedded and json.loads(embedded.group(1))["photos"] == 3
