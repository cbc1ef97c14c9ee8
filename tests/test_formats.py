"""RAW, HEIC and AVIF files from real cameras and phones: scanned from their embedded
previews or through pillow-heif, their estimates written into XMP sidecars of the names
darktable and Lightroom read, the files themselves never touched, undo byte-identical.

Real files (../shared/data/formats), lens tags stripped with exiftool as a manual lens
leaves them; the real CLI, a real database, a tiny real ONNX model; sidecars read back
with exiftool.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import rows, run
from photo_tagger.preprocess import decode

FORMATS = Path(__file__).resolve().parents[2] / "shared" / "data" / "formats"
EXIFTOOL = shutil.which("exiftool")
pytestmark = [
    pytest.mark.skipif(EXIFTOOL is None, reason="needs exiftool (apt-get install libimage-exiftool-perl)"),
    pytest.mark.skipif(not (FORMATS / "IMG_5952.CR2").is_file(), reason=f"needs the test files in {FORMATS}"),
]
RAW = "IMG_5952.CR2"
HEICS = ("IMG_3578.heic", "2021-02-13-1929.heic", "Stonehenge.heic", "heic.heic")
STRIP = ["-FNumber=", "-FocalLength=", "-FocalLengthIn35mmFormat=", "-ApertureValue=", "-MaxApertureValue=",
         "-Lens*=", "-MakerNotes:all=", "-overwrite_original"]


def manual_copy(name: str, folder: Path, strip: bool = True) -> Path:
    """A writable copy of a real file, its lens tags stripped (a manual lens's photo)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    shutil.copyfile(FORMATS / name, target)
    if strip:  # -m: Canon maker notes cannot be deleted from a CR2; the EXIF lens tags go
        subprocess.run([EXIFTOOL, "-q", "-m", *STRIP, str(target)], check=True)
    return target


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def exiftool(path: Path) -> dict:
    done = subprocess.run([EXIFTOOL, "-j", "-a", "-G1", "-n", str(path)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)[0]


def scan(folder: Path, model: Path, db: Path, *extra: str):  # type: ignore[no-untyped-def]
    result = run("scan", str(folder), "--db", str(db), "--model", str(model), "--workers", "1", *extra)
    assert "Traceback" not in result.output, result.output
    return result


def undo_run(output: str, db: Path) -> None:
    """Undo the write run a scan's or write's summary line names."""
    run_id = output.split("`phototag undo --run ")[1].split("`")[0]
    undone = run("undo", "--run", run_id, "--db", str(db))
    assert undone.exit_code == 0, undone.output


def assert_sidecar_holds(sidecar: Path, row: dict) -> None:
    """exiftool reads the stored FNumber and phototag's marks from the sidecar, and finds it valid."""
    tags = exiftool(sidecar)
    assert tags["XMP-exif:FNumber"] == pytest.approx(round(row["fnumber"], 1)), tags
    assert tags["XMP-phototag:Estimated"] in (True, "True"), tags
    assert "FNumber" in tags["XMP-phototag:EstimatedTags"], tags
    checked = subprocess.run([EXIFTOOL, "-validate", "-warning", "-a", "-s3", str(sidecar)],
                             capture_output=True, text=True, check=True)
    assert checked.stdout.splitlines()[0] == "OK", checked.stdout


def test_raw_heic_and_avif_are_predicted_and_written_into_sidecars_then_undone(tmp_path, tiny_model):
    lib, db = tmp_path / "lib", tmp_path / "t.db"
    for name in (RAW, *HEICS):
        manual_copy(name, lib)
    manual_copy("avif.avif", lib, strip=False)  # no EXIF at all
    before = digests(lib)

    result = scan(lib, tiny_model, db, "--write-exif", "--min-confidence", "0")
    assert result.exit_code == 0, result.output
    found = rows(db)
    for name in (RAW, *HEICS, "avif.avif"):
        assert found[name]["status"] == "predicted", (name, found[name])
    assert f"{1 + len(HEICS) + 1} written ({1 + len(HEICS) + 1} into XMP sidecars)" in result.output
    for name in (RAW, *HEICS):
        assert_sidecar_holds(lib / f"{name}.xmp", found[name])
    after = digests(lib)
    assert {name: after[name] for name in before} == before, "RAW and HEIC files are never rewritten"

    undo_run(result.output, db)
    assert digests(lib) == before, "undo removes every sidecar it created"


def test_an_existing_lightroom_sidecar_is_updated_not_doubled_and_restored(tmp_path, tiny_model):
    lib, db = tmp_path / "lib", tmp_path / "t.db"
    manual_copy(RAW, lib)
    lightroom = lib / "IMG_5952.xmp"
    subprocess.run([EXIFTOOL, "-q", "-XMP-xmp:Rating=3", "-XMP-dc:Title=Stonehenge trip", "-o", str(lightroom)],
                   check=True)
    before = digests(lib)

    result = scan(lib, tiny_model, db, "--write-exif", "--min-confidence", "0")
    assert result.exit_code == 0, result.output
    assert not (lib / f"{RAW}.xmp").exists(), "a second sidecar would disagree with Lightroom's"
    assert_sidecar_holds(lightroom, rows(db)[RAW])
    tags = exiftool(lightroom)
    assert (tags["XMP-xmp:Rating"], tags["XMP-dc:Title"]) == (3, "Stonehenge trip"), "the user's own values stay"
    assert digests(lib)[RAW] == before[RAW]

    assert run("undo", str(lib), "--db", str(db)).exit_code == 0
    assert digests(lib) == before, "undo restores the Lightroom sidecar byte for byte"


def test_sidecar_name_base_makes_the_lightroom_form(tmp_path, tiny_model):
    lib, db = tmp_path / "lib", tmp_path / "t.db"
    manual_copy(RAW, lib)
    before = digests(lib)
    assert scan(lib, tiny_model, db).exit_code == 0
    usage = run("scan", str(lib), "--db", str(db), "--model", str(tiny_model), "--sidecar-name", "base")
    assert usage.exit_code == 2 and "only apply with --write-exif" in usage.output

    written = run("write", "--db", str(db), "--min-confidence", "0", "--sidecar-name", "base")
    assert written.exit_code == 0, written.output
    assert sorted(p.name for p in lib.iterdir()) == [RAW, "IMG_5952.xmp"]
    assert_sidecar_holds(lib / "IMG_5952.xmp", rows(db)[RAW])
    assert run("undo", str(lib), "--db", str(db)).exit_code == 0
    assert digests(lib) == before


def test_pruned_raw_files_give_one_line_errors_never_a_traceback(tmp_path, tiny_model):
    """The bundled CR3 and DNG keep their EXIF but lost their previews; exiftool cannot
    rewrite them, so --all makes the scan decode them despite their lens EXIF."""
    lib, db = tmp_path / "lib", tmp_path / "t.db"
    for name in ("Canon-R6-pruned.CR3", "IMG_1361.dng"):
        manual_copy(name, lib, strip=False)
    result = scan(lib, tiny_model, db, "--all")
    assert result.exit_code == 0, result.output
    for name, row in rows(db).items():
        if row["status"] == "error":
            assert row["error"].startswith("no usable preview") and "\n" not in row["error"], row
            assert f"error: {lib / name}: {row['error']}" in result.output
        else:
            assert row["status"] == "has_exif", row  # a preview was found: estimated to check the model
    assert "2 found" in result.output


def test_raw_previews_and_heic_decode_upright_at_their_size():
    """The CR2's 1728x1152 preview, not its 160x120 thumbnail or a demosaic; a HEIC stored
    landscape with orientation 6 comes out portrait, turned once."""
    assert decode((FORMATS / RAW).read_bytes(), None, raw=True).size == (1728, 1152)
    assert decode((FORMATS / "2021-02-13-1929.heic").read_bytes(), None).size == (3024, 4032)
    assert decode((FORMATS / "avif.avif").read_bytes(), 320).size == (1920, 1080)
