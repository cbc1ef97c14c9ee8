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
from dataclasses import dataclass, field
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


@dataclass
class Fidelity:
    """Per file, what the write did, as exiftool reads it (paths resolved)."""

    files: list[str]
    bare: list[str]  # files exiftool reads no aperture or focal length in after stripping
    written: set[str]
    side_effects: dict[str, set[str]] = field(default_factory=dict)  # written file -> tags changed beyond the intended
    new_warnings: dict[str, set[str]] = field(default_factory=dict)  # written file -> new -validate warnings
    held: dict[str, str] = field(default_factory=dict)  # file not written -> phototag's reason

    @property
    def written_share(self) -> float:
        return sum(p in self.written for p in self.bare) / max(len(self.bare), 1)


def measure(data: Path, work: Path, every: int = 1, limit: int | None = None,
            model: Path | None = None) -> Fidelity:
    """Copy every `every`-th photo, strip, scan, write --min-confidence 0, and compare."""
    lib, home = work / "library", work / "home"
    for path in photos(data, limit)[::every]:
        dest = lib / path.relative_to(data)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
    # exiftool refuses to rewrite a few damaged files and packets: they keep their lens values
    subprocess.run(["exiftool", "-q", "-q", "-r", "-overwrite_original", *STRIP, str(lib)], capture_output=True)
    before, warn_before = exiftool_json(lib), exiftool_json(lib, "-validate", "-warning")
    phototag("scan", str(lib), *(["--model", str(model)] if model else []), home=home)
    phototag("write", str(lib), "--min-confidence", "0", home=home, check=False)
    after, warn_after = exiftool_json(lib), exiftool_json(lib, "-validate", "-warning")
    done, notes = written(home / "phototag.db")
    result = Fidelity(sorted(before), [p for p, item in before.items() if not records_lens(item)], done)
    for path in before:
        if path not in done:
            result.held[path] = notes.get(path, "not written (no estimate stored)")
            continue
        extra = unexpected(before[path], after.get(path, {}))
        fresh = warnings(warn_after.get(path, {})) - warnings(warn_before.get(path, {}))
        if extra:
            result.side_effects[path] = extra
        if fresh:
            result.new_warnings[path] = fresh
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", type=Path, default=Path("../shared/data"))
    parser.add_argument("--limit", type=int, help="only the first N files (a quick look)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    if shutil.which("exiftool") is None:
        raise SystemExit("exiftool is needed (apt-get install libimage-exiftool-perl)")
    work = args.keep or Path(tempfile.mkdtemp(prefix="write-fidelity-"))
    report(measure(args.data, work, limit=args.limit))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def report(r: Fidelity) -> None:
    for path in sorted(set(r.side_effects) | set(r.new_warnings)):
        shown = "/".join(Path(path).parts[-3:])
        print(f"  {shown}: {sorted(r.side_effects.get(path, ()))[:8]} {sorted(r.new_warnings.get(path, ()))}")
    n, bare = len(r.files), len(r.bare)
    print(f"\n{n} files; {bare} hold no aperture or focal length after stripping "
          f"(exiftool could not rewrite the other {n - bare})")
    print(f"written in-file: {sum(p in r.written for p in r.bare)} of those {bare} ({100 * r.written_share:.1f}%); "
          f"{len(r.written)} of all {n}")
    _counts("written files with a tag changed beyond the intended ones", r.side_effects, 15)
    _counts("written files with a new exiftool -validate warning", r.new_warnings, 10)
    held = Counter(r.held.values())
    print(f"not written: {len(r.held)}")
    for text, count in held.most_common(10):
        print(f"  {count:4d} {text}")


def _counts(title: str, per_file: dict[str, set[str]], top: int) -> None:
    print(f"{title}: {len(per_file)}")
    for key, count in Counter(k for keys in per_file.values() for k in keys).most_common(top):
        print(f"  {count:4d} {key}")


if __name__ == "__main__":
    main()
