"""Accuracy and honesty on the photographers phototag is for: ../shared/data/portfolio.

Run: .venv/bin/python bench/portfolio_bench.py [DATA] [--model M.onnx] [--no-selfcal] [--keep DIR]

Needs exiftool (Debian's libimage-exiftool-perl; .ci/run installs it) to make "manual lens"
copies as ../shared/data/README.md describes: FNumber, FocalLength, ApertureValue,
MaxApertureValue, BrightnessValue, every Lens* tag, the maker notes and the XMP aux, crs and
exifEX groups removed, everything else kept. Everything runs through the real `phototag`
command in a throw-away PHOTOTAG_HOME; nothing is installed.

Printed per photographer and pooled, each beside the constant (the portfolio's median):
- starter: the shipped model alone on stripped copies of every photo (`phototag scan`);
- library: per photographer, a hash-chosen 60% kept with EXIF and 40% stripped, scanned
  together (what a scan learns from the library's own labeled photos: time neighbours and
  aperture habits), scored on the stripped 40%;
- selfcal: the same libraries of photographers with >= 30 photos, `phototag train LIB` then
  `phototag scan LIB` (skip with --no-selfcal);
- neighbours: the library photos with a labeled photo by the same body within 15 minutes;
- after the starter's table, its scene-brightness estimate (EV100) against the truth.
Focal length is scored as written: the real focal length (the 35 mm-equivalent estimate over
the crop factor phototag resolved) against the FocalLength the camera recorded, on the photos
whose crop factor is known. (35 mm-equivalent truths from resized web exports' focal-plane
tags would count a 400 mm shot cropped to a third as 1200 mm.)
Columns: n, FNumber within one stop (and the constant's), focal within 20% (and the
constant's), mean FNumber confidence, and at the default --min-confidence: how many FNumber
values would be written and how many of those are right (the same for focal length).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from photo_tagger.tolerance import ONE_STOP, WITHIN_20_PERCENT  # noqa: E402
from photo_tagger.writeback import DEFAULT_MIN_CONFIDENCE  # noqa: E402

STRIP = [
    "-FNumber=", "-FocalLength=", "-FocalLengthIn35mmFormat=", "-ApertureValue=", "-MaxApertureValue=",
    "-BrightnessValue=", "-Lens*=", "-MakerNotes:all=", "-XMP-aux:all=", "-XMP-crs:all=",
    "-XMP-exifEX:all=", "-XMP-exif:FNumber=", "-XMP-exif:FocalLength=", "-XMP-exif:ApertureValue=",
]
NEIGHBOUR_GAP_S = 15 * 60
SELFCAL_MIN = 30
KEEP_SHARE = 0.6


@dataclass(frozen=True)
class Truth:
    """What the original file says: the answer a stripped copy is scored against."""

    who: str
    name: str
    fnumber: float
    focal: float | None  # FocalLength as recorded, mm: the value a write would put in the file
    body: str
    taken: datetime | None
    lens: str | None = None  # LensModel as recorded: the --split lens libraries hold out one lens


def phototag(*args: str, home: Path, check: bool = True) -> str:
    exe = Path(sys.executable).with_name("phototag")
    env = {**os.environ, "PHOTOTAG_HOME": str(home)}
    done = subprocess.run([str(exe), *args], capture_output=True, text=True, env=env)
    if done.returncode != 0 and not check:
        return done.stdout + done.stderr  # a refusal is an outcome: the library keeps its model
    if done.returncode != 0:
        raise SystemExit(f"phototag {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def strip(folder: Path) -> None:
    """Make every photo under folder a manual-lens copy, in place."""
    subprocess.run(["exiftool", "-q", "-q", "-r", "-overwrite_original", *STRIP, str(folder)], check=True)


def truths(portfolio: Path) -> dict[tuple[str, str], Truth]:
    out = subprocess.run(["exiftool", "-q", "-json", "-r", "-n", "-FNumber", "-FocalLength", "-Make", "-Model",
                          "-SerialNumber", "-LensModel",
                          "-DateTimeOriginal", str(portfolio)], capture_output=True, text=True, check=True)
    found = {}
    for row in json.loads(out.stdout):
        path = Path(row["SourceFile"])
        try:
            fnumber = float(row["FNumber"])
        except (KeyError, TypeError, ValueError):
            continue
        focal = _number(row.get("FocalLength"))
        taken = None
        try:
            taken = datetime.strptime(str(row.get("DateTimeOriginal")), "%Y:%m:%d %H:%M:%S")
        except ValueError:
            pass
        body = f"{row.get('Make')} {row.get('Model')} {row.get('SerialNumber') or ''}"
        lens = str(row.get("LensModel") or "").strip() or None
        found[(path.parent.name, path.name)] = Truth(path.parent.name, path.name, fnumber, focal or None, body, taken, lens)
    return found


def _number(value: object) -> float | None:
    try:
        return float(str(value).split()[0])
    except (TypeError, ValueError):
        return None


def kept(name: str) -> bool:
    """The hash-chosen 60% of a photographer's photos that keep their lens EXIF."""
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF < KEEP_SHARE


def estimates(db: Path, home: Path) -> dict[tuple[str, str], dict]:
    text = phototag("export", "--db", str(db), "--format", "jsonl", home=home)
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    return {(Path(r["path"]).parent.name, Path(r["path"]).name): r for r in rows if r["status"] == "predicted"}


def has_neighbour(t: Truth, labeled: list[Truth]) -> bool:
    return t.taken is not None and any(
        o.body == t.body and o.taken is not None and abs((o.taken - t.taken).total_seconds()) <= NEIGHBOUR_GAP_S
        for o in labeled)


@dataclass
class Tally:
    """One target's counts over a group of photos."""

    n: int = 0
    hit: int = 0
    const: int = 0
    conf: float = 0.0
    written: int = 0
    written_right: int = 0

    def add(self, hit: bool, const_hit: bool, confidence: float, threshold: float) -> None:
        self.n += 1
        self.hit += hit
        self.const += const_hit
        self.conf += confidence
        if confidence >= threshold:
            self.written += 1
            self.written_right += hit

    def columns(self) -> str:
        return (f"{_pct(self.hit, self.n)} {_pct(self.const, self.n)} {self.conf / max(self.n, 1):5.2f} "
                f"{self.written:4d} {_pct(self.written_right, self.written)}")


def _pct(a: int, b: int) -> str:
    return f"{100 * a / b:4.0f}%" if b else "   - "


@dataclass
class Scores:
    """FNumber and focal-length tallies for one group of photos."""

    f: Tally = field(default_factory=Tally)
    l: Tally = field(default_factory=Tally)

    def add(self, t: Truth, est: dict, const_f: float, const_l: float, threshold: float) -> None:
        self.f.add(bool(ONE_STOP.hits(est["fnumber"], t.fnumber)), bool(ONE_STOP.hits(const_f, t.fnumber)),
                   est["fnumber_confidence"], threshold)
        if t.focal and est.get("focal_length"):  # the real focal length, as written (crop factor known)
            self.l.add(bool(WITHIN_20_PERCENT.hits(est["focal_length"], t.focal)),
                       bool(WITHIN_20_PERCENT.hits(const_l, t.focal)), est["focal_length_confidence"] or 0.0,
                       threshold)

    def line(self, label: str) -> str:
        return f"{label[:34]:34s} {self.f.n:4d} {self.f.columns()}  {self.l.columns()}"


HEADER = (f"{'photographer':34s} {'n':>4s} {'f1st':>5s} {'const':>5s} {'conf':>5s} {'wr':>4s} {'right':>5s}  "
          f"{'l20%':>5s} {'const':>5s} {'conf':>5s} {'wr':>4s} {'right':>5s}")


def table(title: str, groups: dict[str, list[tuple[Truth, dict]]], const_f: float, const_l: float,
          threshold: float) -> Scores:
    print(f"\n== {title} (threshold {threshold})")
    print(HEADER)
    pooled = Scores()
    for who in sorted(groups, key=lambda w: -len(groups[w])):
        s = Scores()
        for t, est in groups[who]:
            s.add(t, est, const_f, const_l, threshold)
            pooled.add(t, est, const_f, const_l, threshold)
        print(s.line(who))
    print(pooled.line("POOLED"))
    return pooled


def ev_line(db: Path, truth: dict[tuple[str, str], Truth]) -> str:
    """The model's scene brightness (EV100 from the pixels, exposure time and ISO) against the
    true one, log2(N^2/t) - log2(ISO/100), on photos whose flash did not fire."""
    conn = sqlite3.connect(db)
    got, true = [], []
    for path, ev, t, iso, flash in conn.execute(
            "SELECT path, ev100, exif_exposure_time, exif_iso, exif_flash_fired FROM photos "
            "WHERE status = 'predicted' AND ev100 IS NOT NULL AND exif_exposure_time > 0 AND exif_iso > 0"):
        key = (Path(path).parent.name, Path(path).name)
        if key in truth and not flash:
            got.append(ev)
            true.append(np.log2(truth[key].fnumber ** 2 / t) - np.log2(iso / 100))
    conn.close()
    g, e = np.asarray(got), np.asarray(true)
    return (f"EV100 from the pixels ({len(g)} photos without flash): within 1 EV {np.mean(np.abs(g - e) <= 1):.0%}, "
            f"mean error {np.mean(g - e):+.2f} EV, correlation {np.corrcoef(g, e)[0, 1]:.2f}, "
            f"spread {g.std():.1f} EV (truth {e.std():.1f})")


def run_library(lib: Path, home: Path, train: bool, model: list[str]) -> dict[tuple[str, str], dict]:
    db = home / "phototag.db"
    if train:
        started = time.monotonic()
        said = phototag("train", str(lib), "--db", str(db), *model, home=home, check=False).strip().splitlines()
        print(f"  train: {time.monotonic() - started:.0f} s: " + (said[-1] if said else ""))
        model = []  # scan uses what train installed, or the starting model it kept
    phototag("scan", str(lib), "--db", str(db), "--workers", "2", *model, home=home)
    return estimates(db, home)


Plan = tuple[str, str, list[Truth], set[str]]  # library name, photographer, its photos, the labeled names


def hash_plans(truth: dict[tuple[str, str], Truth]) -> list[Plan]:
    """Per photographer, the hash-chosen 60% labeled (kept)."""
    plans = []
    for who in sorted({t.who for t in truth.values()}):
        mine = [t for t in truth.values() if t.who == who]
        labeled = {t.name for t in mine if kept(t.name)}
        if labeled and len(labeled) < len(mine):
            plans.append((who, who, mine, labeled))
    return plans


def lens_plans(truth: dict[tuple[str, str], Truth], least: int = 3) -> list[Plan]:
    """Per photographer and lens with at least `least` photos, beside other lenses with as
    many: that lens's photos stripped, the other lenses' labeled (photos with no LensModel
    left out). A manual lens is another lens than the labeled photos': the hash split lets
    habits learn the held-out photos' own lens."""
    plans = []
    for who in sorted({t.who for t in truth.values()}):
        mine = [t for t in truth.values() if t.who == who and t.lens]
        for lens in sorted({t.lens for t in mine if t.lens}):
            held = [t for t in mine if t.lens == lens]
            if len(held) >= least and len(mine) - len(held) >= least:
                slug = "".join(c if c.isalnum() else "_" for c in lens)
                plans.append((f"{who}~{slug}", who, mine, {t.name for t in mine if t.lens != lens}))
    return plans


def run_libraries(plans: list[Plan], portfolio: Path, work: Path, model: list[str],
                  selfcal: bool) -> tuple[dict, dict, dict]:
    """Scan each planned library (and train then scan, for libraries of SELFCAL_MIN photos);
    returns the library, selfcal and neighbour groups of (truth, estimate) per photographer."""
    groups: dict[str, dict[str, list[tuple[Truth, dict]]]] = {k: defaultdict(list) for k in ("library", "selfcal", "near")}
    for name, who, mine, labeled in plans:
        lib = work / "libraries" / name
        if not lib.exists():
            lib.mkdir(parents=True)
            for t in mine:
                shutil.copy2(portfolio / who / t.name, lib / t.name)
            held = [lib / t.name for t in mine if t.name not in labeled]
            subprocess.run(["exiftool", "-q", "-q", "-overwrite_original", *STRIP, *map(str, held)], check=True)
        runs = [("library", False)] + ([("selfcal", True)] if selfcal and len(mine) >= SELFCAL_MIN else [])
        with_labels = [t for t in mine if t.name in labeled]
        for kind, train in runs:
            home = work / f"home-{kind}-{name}"
            shutil.rmtree(home, ignore_errors=True)
            print(f"{kind}: {name} ({len(labeled)} labeled, {len(mine) - len(labeled)} stripped)", flush=True)
            got = run_library(lib, home, train, model)
            for t in mine:
                if t.name not in labeled and (name, t.name) in got:  # estimates() keys by folder
                    groups[kind][who].append((t, got[(name, t.name)]))
                    if kind == "library" and has_neighbour(t, with_labels):
                        groups["near"][who].append((t, got[(name, t.name)]))
    return groups["library"], groups["selfcal"], groups["near"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, nargs="?", default=Path("../shared/data"))
    parser.add_argument("--model", type=Path, help="model file to scan with (default: the shipped one)")
    parser.add_argument("--no-selfcal", action="store_true", help="skip the train-then-scan libraries")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    parser.add_argument("--threshold", type=float, default=DEFAULT_MIN_CONFIDENCE)
    parser.add_argument("--split", choices=("hash", "lens"), default="hash",
                        help="hash: 60%% of each photographer's photos labeled (default); lens: the photos of one "
                             "lens stripped, of the photographer's other lenses labeled, each lens in turn")
    args = parser.parse_args()
    if shutil.which("exiftool") is None:
        raise SystemExit("exiftool is needed to make manual-lens copies (apt-get install libimage-exiftool-perl)")
    portfolio = args.data.resolve() / "portfolio"
    work = args.keep or Path(tempfile.mkdtemp(prefix="portfolio-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    truth = truths(portfolio)
    const_f = float(np.median([t.fnumber for t in truth.values()]))
    const_l = float(np.median([t.focal for t in truth.values() if t.focal]))
    print(f"{len(truth)} photos by {len({t.who for t in truth.values()})} photographers; "
          f"constant: f/{const_f:g}, {const_l:g} mm")
    model = ["--model", str(args.model.resolve())] if args.model else []

    # the starter alone: every photo stripped
    stripped = work / "stripped"
    if not stripped.exists():
        shutil.copytree(portfolio, stripped, ignore=shutil.ignore_patterns("*.tsv"))
        strip(stripped)
    home = work / "home-starter"
    phototag("scan", str(stripped), "--db", str(home / "phototag.db"), "--workers", "2", *model, home=home)
    found = estimates(home / "phototag.db", home)
    groups: dict[str, list[tuple[Truth, dict]]] = defaultdict(list)
    for key, t in truth.items():
        if key in found:
            groups[t.who].append((t, found[key]))
    table("starter alone, every photo stripped", groups, const_f, const_l, args.threshold)
    print(ev_line(home / "phototag.db", truth))

    plans = lens_plans(truth) if args.split == "lens" else hash_plans(truth)
    library, selfcal, near = run_libraries(plans, portfolio, work, model, selfcal=not args.no_selfcal)
    split = ("each photographer's photos of one lens stripped, of their other lenses labeled" if args.split == "lens"
             else "60% labeled, 40% stripped")
    table(f"library: {split}, scanned together", library, const_f, const_l, args.threshold)
    table("neighbours: library photos with a labeled photo of the body within 15 minutes", near,
          const_f, const_l, args.threshold)
    if selfcal:
        table(f"selfcal: train then scan, photographers with >= {SELFCAL_MIN} photos", selfcal,
              const_f, const_l, args.threshold)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
