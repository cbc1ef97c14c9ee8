"""Writing into the files people really have: symlinked photos and sidecars, sidecars from
other tools that already record the lens, non-UTF-8 text tags, and images too big to decode.

Real files, a real database, the real CLI; tags read back with pyexiv2 and exiftool.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tracemalloc
from pathlib import Path

import pyexiv2
import pytest

from photo_tagger.errors import MetadataWriteError
from photo_tagger.tagio import modify, verify
from helpers import rows as db_rows, run
from photos import camera_exif, make_photo

EXIFTOOL = shutil.which("exiftool")
needs_exiftool = pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed")


def scan(root: Path, model: Path, db: Path, *extra: str):  # type: ignore[no-untyped-def]
    return run("scan", str(root), "--db", str(db), "--model", str(model), "--workers", "1", *extra)


def write(db: Path, *extra: str):  # type: ignore[no-untyped-def]
    return run("write", "--db", str(db), "--min-confidence", "0", *extra)


def exif_of(path: Path | str) -> dict[str, str]:
    with open(path, "rb") as handle, pyexiv2.ImageData(handle.read()) as image:
        return image.read_exif(encoding="latin-1")


def digest(path: Path | str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


SIDECAR = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:exif="http://ns.adobe.com/exif/1.0/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmp:Rating="3" {extra}/>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""
LENS_SIDECAR = SIDECAR.format(extra='exif:FNumber="28/10" exif:FocalLength="500/10"')
PLAIN_SIDECAR = SIDECAR.format(extra="")


# --- 1. symlinks stay symlinks ---------------------------------------------------------


def test_a_symlinked_photo_stays_a_link_its_target_is_written_and_undo_restores_it(tiny_model, tmp_path):
    root = tmp_path / "lib"
    target = make_photo(root / "originals" / "real.jpg", exif=camera_exif(None, None), seed=1)
    link = root / "album" / "link.jpg"
    link.parent.mkdir(parents=True)
    link.symlink_to(Path("..") / "originals" / "real.jpg")
    before = digest(target)
    db = tmp_path / "t.db"
    assert scan(root, tiny_model, db).exit_code == 0
    result = write(db, str(root / "album"))
    assert "Write: 1 written, 0 held back, 0 failed" in result.output, result.output
    assert link.is_symlink() and os.readlink(link) == os.path.join("..", "originals", "real.jpg")
    assert "Exif.Photo.FNumber" in exif_of(target) and digest(target) != before
    assert not [p for p in os.listdir(target.parent) if p.startswith(".")]  # no temp file left
    undone = run("undo", "--db", str(db), str(root / "album"))
    assert undone.exit_code == 0, undone.output
    assert link.is_symlink() and digest(target) == before


def test_a_link_to_a_photo_outside_the_scanned_folders_is_refused_in_one_line(tiny_model, tmp_path):
    outside = make_photo(tmp_path / "elsewhere" / "real.jpg", exif=camera_exif(None, None), seed=2)
    root = tmp_path / "lib"
    root.mkdir()
    (root / "link.jpg").symlink_to(outside)
    before = digest(outside)
    db = tmp_path / "t.db"
    assert scan(root, tiny_model, db).exit_code == 0
    result = write(db)
    assert "0 written" in result.output and "1 failed" in result.output, result.output
    assert "link to a file outside the scanned folders; nothing was written (use --sidecar" in result.output
    assert "Traceback" not in result.output
    assert (root / "link.jpg").is_symlink() and digest(outside) == before
    # --sidecar writes beside the link, never through it
    result = write(db, "--sidecar")
    assert "1 written (1 into XMP sidecars)" in result.output, result.output
    assert digest(outside) == before and (root / "link.jpg.xmp").is_file()


def test_a_symlinked_sidecar_stays_a_link_and_undo_restores_its_target(tiny_model, tmp_path):
    root = tmp_path / "lib"
    make_photo(root / "a.jpg", exif=camera_exif(None, None), seed=3)
    store = root / ".sidecars" / "a.jpg.xmp"  # hidden: the scan does not look inside
    store.parent.mkdir()
    store.write_text(PLAIN_SIDECAR)
    before = digest(store)
    (root / "a.jpg.xmp").symlink_to(store)
    db = tmp_path / "t.db"
    assert scan(root, tiny_model, db).exit_code == 0
    result = write(db, "--sidecar")
    assert "1 written (1 into XMP sidecars)" in result.output, result.output
    assert (root / "a.jpg.xmp").is_symlink() and digest(store) != before
    with pyexiv2.ImageData(store.read_bytes()) as image:
        xmp = image.read_xmp()
    assert xmp["Xmp.phototag.Estimated"] == "True" and xmp["Xmp.xmp.Rating"] == "3"
    assert run("undo", "--db", str(db), str(root)).exit_code == 0
    assert (root / "a.jpg.xmp").is_symlink() and digest(store) == before


def test_a_sidecar_linked_outside_the_scanned_folders_is_refused(tiny_model, tmp_path):
    outside = tmp_path / "elsewhere" / "a.jpg.xmp"
    outside.parent.mkdir()
    outside.write_text(PLAIN_SIDECAR)
    before = digest(outside)
    root = tmp_path / "lib"
    make_photo(root / "a.jpg", exif=camera_exif(None, None), seed=4)
    (root / "a.jpg.xmp").symlink_to(outside)
    db = tmp_path / "t.db"
    assert scan(root, tiny_model, db).exit_code == 0
    result = write(db, "--sidecar")
    assert "1 failed" in result.output and "outside the scanned folders" in result.output, result.output
    assert (root / "a.jpg.xmp").is_symlink() and digest(outside) == before


# --- 2. sidecars of both conventions speak for the photo ---------------------------------


@pytest.mark.parametrize("name", ["a.xmp", "a.jpg.xmp"])  # Lightroom / Capture One, darktable / digiKam
def test_a_sidecar_recording_the_lens_values_makes_them_the_photos_own(tiny_model, tmp_path, name):
    root = tmp_path / "lib"
    photo = make_photo(root / "a.jpg", exif=camera_exif(None, None), seed=5)
    (root / name).write_text(LENS_SIDECAR)
    before = digest(photo)
    db = tmp_path / "t.db"
    assert scan(root, tiny_model, db).exit_code == 0
    row = db_rows(db)["a.jpg"]
    assert row["status"] == "has_exif", row
    assert (row["exif_fnumber"], row["exif_focal_length"]) == (2.8, 50.0)
    write(db)
    assert digest(photo) == before


@pytest.mark.parametrize("name", ["a.xmp", "a.jpg.xmp"])
def test_an_in_file_write_never_contradicts_a_sidecar_made_after_the_scan(tiny_model, tmp_path, name):
    root = tmp_path / "lib"
    photo = make_photo(root / "a.jpg", exif=camera_exif(None, None), seed=6)
    db = tmp_path / "t.db"
    assert scan(root, tiny_model, db).exit_code == 0
    assert db_rows(db)["a.jpg"]["status"] == "predicted"
    (root / name).write_text(LENS_SIDECAR)  # Lightroom wrote it since
    before = digest(photo)
    result = write(db)
    assert "0 written, 1 held back (its sidecar already records its lens values)" in result.output, result.output
    assert digest(photo) == before


def test_an_unreadable_sidecar_stops_the_in_file_write_of_that_photo_only(tiny_model, tmp_path):
    root = tmp_path / "lib"
    photo = make_photo(root / "a.jpg", exif=camera_exif(None, None), seed=10)
    other = make_photo(root / "b.jpg", exif=camera_exif(None, None), seed=11)
    db = tmp_path / "t.db"
    assert scan(root, tiny_model, db).exit_code == 0
    (root / "a.xmp").write_bytes(b"\x00\x01 not XMP at all")
    before = digest(photo)
    result = write(db)
    assert "Write: 1 written, 0 held back, 1 failed" in result.output, result.output
    assert "its sidecar a.xmp cannot be read" in result.output and "Traceback" not in result.output
    assert digest(photo) == before and "Exif.Photo.FNumber" in exif_of(other)


# --- 3. non-UTF-8 text tags ----------------------------------------------------------------


@needs_exiftool
def test_a_latin1_artist_is_read_estimated_written_and_kept_byte_for_byte(tiny_model, tmp_path):
    root = tmp_path / "lib"
    photo = make_photo(root / "a.jpg", exif=camera_exif(None, None), seed=7)
    tiff = make_photo(root / "b.tif", exif=camera_exif(None, None), seed=8, fmt="TIFF")
    for path in (photo, tiff):
        subprocess.run([EXIFTOOL, "-q", "-overwrite_original", "-charset", "exif=latin", "-Artist=© José",
                        "-Copyright=© José Ñúñez", "-ImageDescription=Café", str(path)], check=True)
    raw = {p: _raw_text_tags(p) for p in (photo, tiff)}
    assert raw[photo][0] == b"\xa9 Jos\xe9"
    db = tmp_path / "t.db"
    result = scan(root, tiny_model, db)
    assert result.exit_code == 0 and "could not be read" not in result.output, result.output
    assert {r["status"] for r in db_rows(db).values()} == {"predicted"}
    result = write(db)
    assert "Write: 2 written, 0 held back, 0 failed" in result.output, result.output
    for path in (photo, tiff):
        assert _raw_text_tags(path) == raw[path], path
        assert "Exif.Photo.FNumber" in exif_of(path)


def _raw_text_tags(path: Path) -> list[bytes]:
    return [subprocess.run([EXIFTOOL, "-b", f"-{tag}", str(path)], capture_output=True, check=True).stdout
            for tag in ("Artist", "Copyright", "ImageDescription")]


# --- 4. the image-data check never decodes pixels ------------------------------------------


def _big(tmp_path: Path, fmt: str, size: tuple[int, int]) -> bytes:
    from PIL import Image

    path = tmp_path / f"big.{fmt}"
    Image.new("RGB", size, (90, 120, 30)).save(path)
    with pyexiv2.Image(str(path)) as image:
        image.modify_exif(camera_exif(None, None))
    return path.read_bytes()


@pytest.mark.parametrize("fmt", ["png", "tif"])
def test_verifying_a_write_into_a_big_image_does_not_decode_its_pixels(tmp_path, fmt):
    old = _big(tmp_path, fmt, (4000, 4000))  # 48 MB of pixels, far less of file
    want = {"Exif.Photo.FNumber": "28/10"}
    new = modify(old, want, {})
    tracemalloc.start()
    try:
        verify(old, new, want, {}, f"big.{fmt}")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < max(8 * 1024 * 1024, 3 * len(old)), f"{peak / 1e6:.0f} MB for a {len(old) / 1e6:.1f} MB file"


@pytest.mark.parametrize("fmt", ["png", "webp", "tif"])
def test_a_changed_image_data_byte_is_still_caught(tmp_path, fmt):
    path = make_photo(tmp_path / f"a.{fmt}", exif=camera_exif(None, None), seed=9, fmt="TIFF" if fmt == "tif" else None)
    old = path.read_bytes()
    want = {"Exif.Photo.FNumber": "28/10"}
    new = bytearray(modify(old, want, {}))
    verify(old, bytes(new), want, {}, path.name)  # the real write passes
    at = _pixel_byte(bytes(new), fmt)
    new[at] ^= 0x01
    with pytest.raises(MetadataWriteError, match="image data"):
        verify(old, bytes(new), want, {}, path.name)


def _pixel_byte(data: bytes, fmt: str) -> int:
    """An offset inside the compressed (or raw) pixel data of a file."""
    if fmt == "png":
        return data.index(b"IDAT") + 40
    if fmt == "webp":
        return data.index(b"VP8 ") + 60
    with pyexiv2.ImageData(data) as image:  # TIFF: inside the first strip
        return int(image.read_exif()["Exif.Image.StripOffsets"].split()[0]) + 100
