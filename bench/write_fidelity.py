"""Do in-file writes succeed, and change only what they mean to? Read by exiftool.

Run: .venv/bin/python bench/write_fidelity.py [DATA] [--limit N] [--keep DIR]   (about 1 minute)

Every JPEG, TIFF, PNG and WebP under DATA/photos and DATA/portfolio is copied and made a
"manual lens" copy with exiftool (as bench/portfolio_bench.py does), scanned with the
shipped model, and written in-file with `phototag write --min-confidence 0`. exiftool's own
reading (`-a -G1 -s`, and `-validate -warning`) before and after the write says, per file:

- whether the write succeeded in-file, or why not (the one-line reason phototag gave);
- every tag that changed beyond the intended ones (EXIF FNumber, FocalLength,
  FocalLengthIn35mmFormat, ExifVersion where phototag raises it for the lens tags, their
  XMP-exif twins, phototag's own XMP marks, the XMP toolkit name of a new packet, and a
  WebP's flag for a new XMP chunk);
- every exiftool warning the written file has that the stripped copy did not.

Needs exiftool (Debian's libimage-exiftool-perl; .ci/run installs it).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from portfolio_bench import STRIP, phototag  # noqa: E402

FORMATS = {".jpg", ".jpeg", ".tif", ".tiff", ".png", ".webp"}
INTENDED = {
    "ExifIFD:FNumber", "ExifIFD:FocalLength", "ExifIFD:FocalLengthIn35mmFormat", "ExifIFD:ExifVersion",
    "XMP-exif:FNumber", "XMP-exif:FocalLength", "XMP-exif:FocalLengthIn35mmFormat", "XMP-x:XMPToolkit",
    "RIFF:WebP_Flags",  # a WebP's VP8X flags say which chunks it holds: a new XMP chunk sets its own
}
MOVING = ("Offset", "Offsets")  # pointers move when a block grows; the data they point at is compared
IGNORED_GROUPS = {"File", "System", "Composite", "ExifTool"}  # the file system's and exiftool's own


def photos(data: Path, limit: int | None) -> list[Path]:
    found = sorted(p for folder in ("photos", "portfolio") for p in (data / folder).rglob("*")
                   if p.suffix.lower() in FORMATS and p.is_file())
    return found[:limit] if limit else found


def exiftool_json(folder: Path, *args: str) -> dict[str, dict]:
    done = subprocess.run(["exiftool", "-j", "-a", "-G1", "-s", "-r", *args, str(folder)],
                          capture_output=True, text=True)
    return {Path(item["SourceFile"]).resolve().as_posix(): item for item in json.loads(done.stdout or "[]")}


def warnings(item: dict) -> set[str]:
    return {str(v) for k, v in item.items() if k.split(":")[-1].startswith("Warning")}


def unexpected(before: dict, after: dict) -> set[str]:
    """Tags that appeared, went or changed, other than the intended ones."""
    changed = set()
    for key in set(before) | set(after):
        group = key.split(":")[0]
        if key == "SourceFile" or group in IGNORED_GROUPS or key in INTENDED or group == "XMP-phototag":
            continue
        if key.split(":")[-1].startswith("Warning") or key.endswith(MOVING):
            continue
        if before.get(key) != after.get(key):
            changed.add(key)
    return changed


def records_lens(item: dict) -> bool:
    """Whether exiftool still reads an aperture or focal length in the stripped copy: it
    refuses to rewrite some damaged files and packets, which then keep their lens values."""
    return any(key.split(":")[-1] in ("FNumber", "FocalLength") and not key.startswith("Composite:")
               for key in item)


def written(db: Path) -> tuple[set[str], dict[str, str]]:
    conn = sqlite3.connect(db)
    done = {Path(p).resolve().as_posix() for (p,) in conn.execute(
        "SELECT path FROM writes WHERE state = 'done' AND method = 'exif'")}
    notes = {Path(p).resolve().as_posix(): n for p, n in conn.execute(
        "SELECT path, write_note FROM photos WHERE write_note IS NOT NULL")}
    conn.close()
    return done, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", type=Path, default=Path("../shared/data"))
    parser.add_argument("--limit", type=int, help="only the first N files (a quick look)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    if shutil.which("exiftool") is None:
        raise SystemExit("exiftool is needed (apt-get install libimage-exiftool-perl)")
    work = args.keep or Path(tempfile.mkdtemp(prefix="write-fidelity-"))
    lib, home = work / "library", work / "home"
    for path in photos(args.data, args.limit):
        dest = lib / path.relative_to(args.data)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
    # exiftool refuses to rewrite a few damaged files: they keep their lens tags and count
    # as "the file records its own", like any photo not taken with a manual lens
    subprocess.run(["exiftool", "-q", "-q", "-r", "-overwrite_original", *STRIP, str(lib)], capture_output=True)
    before, warn_before = exiftool_json(lib), exiftool_json(lib, "-validate", "-warning")
    phototag("scan", str(lib), home=home)
    phototag("write", str(lib), "--min-confidence", "0", home=home, check=False)
    after, warn_after = exiftool_json(lib), exiftool_json(lib, "-validate", "-warning")
    done, notes = written(home / "phototag.db")
    report(before, after, warn_before, warn_after, done, notes)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def report(before: dict, after: dict, warn_before: dict, warn_after: dict, done: set[str],
           notes: dict[str, str]) -> None:
    side, new_warn, refused = Counter(), Counter(), Counter()
    files_side = files_warn = 0
    for path in before:
        if path not in done:
            refused[notes.get(path, "not written (no estimate stored)")] += 1
            continue
        extra = unexpected(before[path], after.get(path, {}))
        fresh = warnings(warn_after.get(path, {})) - warnings(warn_before.get(path, {}))
        side.update(extra)
        new_warn.update(fresh)
        files_side += bool(extra)
        files_warn += bool(fresh)
        if extra or fresh:
            print(f"  {'/'.join(Path(path).parts[-3:])}: {sorted(extra)[:8]} {sorted(fresh)}")
    n = len(before)
    bare = [path for path, item in before.items() if not records_lens(item)]
    done_bare = sum(path in done for path in bare)
    print(f"\n{n} files; {len(bare)} hold no aperture or focal length after stripping "
          f"(exiftool could not rewrite the other {n - len(bare)})")
    print(f"written in-file: {done_bare} of those {len(bare)} ({100 * done_bare / max(len(bare), 1):.1f}%); "
          f"{len(done)} of all {n}")
    print(f"written files with a tag changed beyond the intended ones: {files_side}")
    for key, count in side.most_common(15):
        print(f"  {count:4d} {key}")
    print(f"written files with a new exiftool -validate warning: {files_warn}")
    for text, count in new_warn.most_common(10):
        print(f"  {count:4d} {text}")
    print(f"not written: {sum(refused.values())}")
    for text, count in refused.most_common(10):
        print(f"  {count:4d} {text}")


if __name__ == "__main__":
    main()
