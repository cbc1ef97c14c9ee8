"""Images that are no camera photos (AI-generated, screenshots, renders) are marked, never
estimated or written: real files made here with exiftool, Pillow and a signed C2PA manifest,
through the real CLI and a real database."""

from __future__ import annotations

import datetime
import hashlib
import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from PIL import Image, PngImagePlugin

from helpers import rows, run
from photos import camera_exif, make_photo
from photo_tagger.tagio import read_tags
from photo_tagger.trainer.harvest import harvest

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "photos"
REAL_PHOTO = DATA / "debian+kphotoalbum" / "0005.jpg"  # Canon EOS 350D, FNumber and FocalLength in EXIF
OTHER_PHOTO = DATA / "debian+kphotoalbum" / "0013.jpg"
AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
STRIP_LENS = ["-EXIF:FNumber=", "-EXIF:FocalLength=", "-EXIF:ApertureValue=", "-EXIF:FocalLengthIn35mmFormat=",
              "-EXIF:MaxApertureValue=", "-EXIF:LensModel="]

pytestmark = pytest.mark.skipif(not (REAL_PHOTO.exists() and shutil.which("exiftool")),
                                reason="needs the shared photos and exiftool")


def exiftool(path: Path, *args: str) -> None:
    subprocess.run(["exiftool", "-q", "-overwrite_original", *args, str(path)], check=True)


def real_copy(src: Path, dst: Path, *args: str) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    if args:
        exiftool(dst, *args)
    return dst


def screenshot_png(path: Path, software: str | None) -> Path:
    """A flat-coloured UI-like PNG as a screenshot tool saves it (Pillow, no EXIF)."""
    image = Image.new("RGB", (320, 200), (236, 236, 236))
    image.paste((40, 90, 200), (0, 0, 320, 24))
    info = PngImagePlugin.PngInfo()
    if software:
        info.add_text("Software", software)
    image.save(path, pnginfo=info)
    return path


def c2pa_signed_copy(src: Path, dst: Path, source_type: str = AI) -> Path:
    """src with a C2PA manifest saying c2pa.created from source_type, signed by a throwaway
    certificate chain (the reader reports it untrusted, which is no reason to ignore the claim)."""
    c2pa = pytest.importorskip("c2pa")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)

    def cert(subject: str, key, issuer, issuer_key, ca: bool):  # type: ignore[no-untyped-def]
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "phototag tests")])
        usage = dict(digital_signature=not ca, content_commitment=False, key_encipherment=False,
                     data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                     encipher_only=False, decipher_only=False)
        builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=7))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(**usage), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
        if not ca:
            builder = (builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
                       .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                      critical=False))
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = cert("test CA", ca_key, None, ca_key, True)
    leaf = cert("test signer", key, ca.subject, ca_key, False)
    chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, ca))
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, chain, private, None))
    manifest = {"claim_generator_info": [{"name": "phototag tests", "version": "1"}],
                "assertions": [{"label": "c2pa.actions", "data": {"actions": [
                    {"action": "c2pa.created", "digitalSourceType": source_type}]}}]}
    dst.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as source, open(dst, "w+b") as target:
        c2pa.Builder(manifest).sign(signer, "image/jpeg", source, target)
    return dst


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """Four images that are no camera photos beside three that are, none with lens EXIF."""
    root = tmp_path / "mixed"
    real_copy(REAL_PHOTO, root / "ai.jpg", *STRIP_LENS, f"-XMP-iptcExt:DigitalSourceType={AI}")
    real_copy(REAL_PHOTO, root / "midjourney.jpg", "-all=", "-Software=Midjourney")
    screenshot_png(root / "screenshot.png", "gnome-screenshot")
    screenshot_png(root / "export.png", None)
    real_copy(OTHER_PHOTO, root / "manual.jpg", *STRIP_LENS)  # a manual-lens photo: its body's EXIF, no lens's
    real_copy(OTHER_PHOTO, root / "stripped.jpg", "-all=")  # no EXIF at all: a film scan or a stripped export
    make_photo(root / "camera.png", exif=camera_exif(None, None), seed=3, fmt="PNG")  # a PNG with the camera's EXIF
    return root


NOT_PHOTOS = ("ai.jpg", "midjourney.jpg", "screenshot.png", "export.png")


def scan(root: Path, model: Path, db: Path, *extra: str):  # type: ignore[no-untyped-def]
    return run("scan", str(root), "--db", str(db), "--model", str(model), "--workers", "1", *extra)


def test_scan_marks_non_photos_with_a_reason_and_writes_only_the_photos(mixed, tiny_model, tmp_path):
    db = tmp_path / "t.db"
    before = {name: digest(mixed / name) for name in NOT_PHOTOS}
    result = scan(mixed, tiny_model, db, "--write-exif", "--min-confidence", "0")
    assert result.exit_code == 0, result.output
    got = rows(db)
    assert {name: got[name]["status"] for name in got} == {
        **{name: "not_photo" for name in NOT_PHOTOS},
        "manual.jpg": "predicted", "stripped.jpg": "predicted", "camera.png": "predicted",
    }
    reasons = {name: got[name]["not_photo"] for name in NOT_PHOTOS}
    assert "DigitalSourceType" in reasons["ai.jpg"] and "AI-generated" in reasons["ai.jpg"]
    assert "image generator (Midjourney)" in reasons["midjourney.jpg"]
    assert "screenshot tool (Screenshot)" in reasons["screenshot.png"]
    assert "PNG without camera EXIF" in reasons["export.png"]
    for name in NOT_PHOTOS:
        assert got[name]["fnumber"] is None and got[name]["focal_length_35mm"] is None, name
        assert f"not a photo: {mixed / name}: {reasons[name]}" in result.output
        assert digest(mixed / name) == before[name], f"{name} must be left byte-identical"
    assert ", 4 not camera photos (not estimated)" in result.output
    written = subprocess.run(["exiftool", "-s3", "-FNumber", str(mixed / "manual.jpg")],
                             capture_output=True, text=True, check=True).stdout.strip()
    assert written, "the manual-lens photo beside them is estimated and written"
    # `write` later, over the whole database, still leaves them alone
    assert run("write", "--db", str(db), "--min-confidence", "0").exit_code == 0
    assert all(digest(mixed / name) == before[name] for name in NOT_PHOTOS)


def test_report_and_export_count_them_by_reason(mixed, tiny_model, tmp_path):
    db = tmp_path / "t.db"
    assert scan(mixed, tiny_model, db).exit_code == 0
    report = run("report", "--db", str(db), "--format", "json")
    assert report.exit_code == 0, report.output
    summary = json.loads(report.output)
    assert summary["by_status"]["not_photo"] == 4 and summary["by_status"]["predicted"] == 3
    assert sum(summary["not_photos"].values()) == 4 and len(summary["not_photos"]) == 4
    assert any("Midjourney" in reason for reason in summary["not_photos"])
    table = run("report", "--db", str(db))
    assert "Not camera photos" in table.output and "Midjourney" in table.output
    exported = [json.loads(line) for line in run("export", "--db", str(db)).output.splitlines()]
    marked = {Path(r["path"]).name: r["not_photo"] for r in exported if r["status"] == "not_photo"}
    assert set(marked) == set(NOT_PHOTOS) and all(marked.values())


def test_c2pa_manifest_with_generative_source_marks_a_photo_with_camera_exif(tmp_path, tiny_model):
    root = tmp_path / "c2pa"
    stripped = real_copy(REAL_PHOTO, tmp_path / "stripped.jpg", *STRIP_LENS)
    signed = c2pa_signed_copy(stripped, root / "firefly.jpg")
    capture = c2pa_signed_copy(stripped, root / "capture.jpg",
                               "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture")
    before, capture_before = digest(signed), digest(capture)
    db = tmp_path / "t.db"
    result = scan(root, tiny_model, db, "--write-exif", "--min-confidence", "0")
    assert result.exit_code == 0, result.output
    got = rows(db)
    assert got["firefly.jpg"]["camera_model"], "the camera's Make/Model are still there: only C2PA says AI"
    assert got["firefly.jpg"]["status"] == "not_photo"
    assert got["firefly.jpg"]["not_photo"] == ("its C2PA Content Credentials say c2pa.created as "
                                                "AI-generated (trainedAlgorithmicMedia)")
    assert digest(signed) == before
    assert got["capture.jpg"]["status"] == "predicted", "a camera capture's credentials are no reason"
    # and it is written beside, not into: an edit would break the credentials' signature
    assert digest(capture) == capture_before
    assert read_tags((root / "capture.jpg.xmp").read_bytes())[1]["Xmp.exif.FNumber"]


def test_all_keeps_them_out_and_include_non_photos_takes_them_in(tmp_path, tiny_model):
    """An AI image that carries lens EXIF is no photo to check the model against (--all);
    --include-non-photos estimates them, and a scan without it marks them again."""
    root = tmp_path / "lib"
    real_copy(REAL_PHOTO, root / "ai-with-exif.jpg", f"-XMP-iptcExt:DigitalSourceType={AI}")
    screenshot_png(root / "screenshot.png", "Greenshot")
    db = tmp_path / "t.db"
    assert scan(root, tiny_model, db, "--all").exit_code == 0
    assert {n: r["status"] for n, r in rows(db).items()} == {"ai-with-exif.jpg": "not_photo",
                                                            "screenshot.png": "not_photo"}
    included = scan(root, tiny_model, db, "--all", "--include-non-photos")
    assert included.exit_code == 0, included.output
    got = rows(db)
    assert got["ai-with-exif.jpg"]["status"] == "has_exif" and got["ai-with-exif.jpg"]["fnumber"] is not None
    assert got["screenshot.png"]["status"] == "predicted" and got["screenshot.png"]["not_photo"]
    assert "2 images that are no camera photos estimated" in included.output
    again = scan(root, tiny_model, db)
    assert again.exit_code == 0, again.output
    assert {n: (r["status"], r["fnumber"]) for n, r in rows(db).items()} == {
        "ai-with-exif.jpg": ("not_photo", None), "screenshot.png": ("not_photo", None)}
    assert "0 unchanged" in again.output


def test_train_harvest_leaves_them_out(tmp_path):
    root = tmp_path / "lib"
    real_copy(REAL_PHOTO, root / "ai-with-exif.jpg", f"-XMP-iptcExt:DigitalSourceType={AI}")
    real_copy(OTHER_PHOTO, root / "photo.jpg")
    found = harvest([root], workers=1)
    assert [Path(p.path).name for p in found.photos + found.partial] == ["photo.jpg"]
    assert found.not_photo == 1


def test_write_checks_again_a_row_an_older_version_scanned(tmp_path, tiny_model):
    """A database from before this check holds screenshots as predicted photos: `write`
    reads the file's bytes anyway, and holds such a file back instead of stamping a lens."""
    root = tmp_path / "old"
    shot = real_copy(REAL_PHOTO, root / "midjourney.jpg", "-all=", "-Software=Midjourney")
    before = digest(shot)
    db = tmp_path / "t.db"
    assert scan(root, tiny_model, db, "--include-non-photos").exit_code == 0
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE photos SET not_photo = NULL")  # as an older version stored it
    conn.close()
    result = run("write", "--db", str(db), "--min-confidence", "0")
    assert "0 written" in result.output and "it is not a camera photo" in run("report", "--db", str(db)).output
    assert digest(shot) == before
