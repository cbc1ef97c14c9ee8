"""Bad input: every broken file gets a one-sentence error, the scan goes on, nothing is modified."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
import pyexiv2
from PIL import Image

from photo_tagger.cli import cli
from photos import camera_exif, make_photo


def broken_exif_jpeg(path: Path) -> Path:
    """A JPEG whose APP1 Exif block points its first IFD far outside the block."""
    make_photo(path.with_suffix(".tmp.jpg"), seed=3)
    data = path.with_suffix(".tmp.jpg").read_bytes()
    path.with_suffix(".tmp.jpg").unlink()
    tiff = b"II*\x00" + (0xFFFFFF00).to_bytes(4, "little") + b"\x00" * 16
    payload = b"Exif\x00\x00" + tiff
    app1 = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    path.write_bytes(data[:2] + app1 + data[2:])
    return path


def build_corpus(root: Path) -> dict[str, Path]:
    root.mkdir(parents=True)
    good = make_photo(root / "good.jpg", exif=camera_exif(None, None), seed=1)
    corpus = {"good.jpg": good}
    corpus["empty.jpg"] = root / "empty.jpg"
    corpus["empty.jpg"].write_bytes(b"")
    full = make_photo(root / "full.tmp", size=(400, 300), exif=camera_exif(None, None), seed=2, fmt="JPEG").read_bytes()
    (root / "full.tmp").unlink()
    corpus["truncated.jpg"] = root / "truncated.jpg"
    corpus["truncated.jpg"].write_bytes(full[: len(full) // 2])
    corpus["text.jpg"] = root / "text.jpg"
    corpus["text.jpg"].write_text("this is not a photo\n" * 20)
    # the PNGs carry a camera's EXIF: a PNG without it is no camera photo (provenance.py), never decoded
    corpus["png-named.jpg"] = make_photo(root / "png-named.jpg", exif=camera_exif(None, None), seed=4, fmt="PNG")
    corpus["tiny.png"] = make_photo(root / "tiny.png", size=(1, 1), exif=camera_exif(None, None), seed=5)
    bomb = Image.new("1", (20000, 15000))
    bomb.save(root / "bomb.png")
    with pyexiv2.Image(str(root / "bomb.png")) as image:
        image.modify_exif(camera_exif(None, None))
    corpus["bomb.png"] = root / "bomb.png"
    corpus["broken-exif.jpg"] = broken_exif_jpeg(root / "broken-exif.jpg")
    odd = os.fsencode(str(root)) + b"/caf\xe9.jpg"  # Latin-1 bytes: not valid UTF-8
    os.rename(make_photo(root / "odd.tmp.jpg", exif=camera_exif(None, None), seed=6), os.fsdecode(odd))
    corpus["odd-name"] = Path(os.fsdecode(odd))
    (root / "loop").mkdir()
    os.symlink(root, root / "loop" / "back-to-root")
    os.symlink(root / "nowhere.jpg", root / "dangling.jpg")
    os.symlink("self-loop.jpg", root / "self-loop.jpg")
    unreadable = make_photo(root / "unreadable.jpg", seed=7)
    unreadable.chmod(0)
    corpus["unreadable.jpg"] = unreadable
    corpus["raw.nef"] = root / "raw.nef"
    corpus["raw.nef"].write_bytes(b"not really raw")
    corpus["sigma.x3f"] = root / "sigma.x3f"
    corpus["sigma.x3f"].write_bytes(b"FOVb not really raw")
    return corpus


def digests(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            if p.is_file() and os.access(p, os.R_OK):
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def test_bad_input_corpus(tmp_path, tiny_model):
    root = tmp_path / "bad"
    build_corpus(root)
    before = digests(root)
    db = tmp_path / "t.db"
    result = CliRunner().invoke(cli, ["scan", str(root), "--db", str(db), "--model", str(tiny_model), "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert digests(root) == before, "a scan must never modify a file"

    conn = sqlite3.connect(db)
    got = {Path(p).name: (s, e) for p, s, e in conn.execute("SELECT path, status, error FROM photos")}
    assert got["good.jpg"][0] == "predicted"
    assert got["png-named.jpg"][0] == "predicted", "content decides the format, not the name"
    assert got["tiny.png"][0] == "predicted", "a 1x1 image is odd but valid"
    assert got["caf\\xe9.jpg"][0] == "predicted", "non-UTF-8 names are scanned and stored printable"
    assert got["sigma.x3f"] == ("unsupported", "X3F files are not supported yet")
    expected_errors = {
        "empty.jpg": "empty",
        "truncated.jpg": "damaged",
        "text.jpg": "not an image file",
        "bomb.png": "decompression bomb",
        "broken-exif.jpg": "metadata",
        "raw.nef": "metadata",  # exiv2 takes it for a damaged file, LibRaw is never asked
        "dangling.jpg": "symbolic link",
        "self-loop.jpg": "symbolic link",
    }
    if os.geteuid() != 0:  # root reads any file, so this case only exists for ordinary users
        expected_errors["unreadable.jpg"] = "cannot be read"
    for name, words in expected_errors.items():
        status, error = got[name]
        assert status == "error", f"{name}: {status}"
        assert error and words in error and "\n" not in error, f"{name}: {error!r}"
        assert f"{name}: {error}" in result.output.replace("\\xe9", "\\xe9")
    line = [l for l in result.output.splitlines() if l.startswith("Summary:")][0]
    assert f"{len(expected_errors)} failed" in line or (os.geteuid() == 0 and "failed" in line)
    # the symlink loop was followed once, not forever: no photo appears twice under loop/
    assert not any("back-to-root" in p for (p,) in conn.execute("SELECT path FROM photos"))


def test_interrupted_scan_keeps_finished_batches_and_resumes(tmp_path, tiny_model):
    from photo_tagger.infer import Predictor
    from photo_tagger.pipeline import Scan, ScanOptions
    from photo_tagger.store import Store

    root = tmp_path / "lib"
    for i in range(12):
        make_photo(root / f"p{i:02}.jpg", exif=camera_exif(None, None), seed=i)

    class CtrlCDuringSecondBatch(Predictor):
        calls = 0

        def predict(self, images, aux):  # type: ignore[no-untyped-def]
            self.calls += 1
            if self.calls == 2:
                raise KeyboardInterrupt
            return super().predict(images, aux)

    store = Store(tmp_path / "t.db")
    with pytest.raises(KeyboardInterrupt):
        Scan(store, CtrlCDuringSecondBatch(tiny_model, "cpu"), ScanOptions((str(root),), batch_size=4, workers=1)).run()
    saved = len(list(store.rows()))
    assert saved == 4, "the first batch is kept, the batch in flight is lost"
    predictor = Predictor(tiny_model, "cpu")
    summary = Scan(store, predictor, ScanOptions((str(root),), batch_size=4, workers=1)).run()
    assert summary.unchanged == saved and summary.predicted == 12 - saved
    assert len(list(store.rows())) == 12
