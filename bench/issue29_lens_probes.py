"""Issue 29, third session: two replays behind docs/decisions.md, on the databases
`bench/portfolio_bench.py --keep DIR` leaves (development measurement, seconds).

Run: .venv/bin/python bench/issue29_lens_probes.py HASH_DIR LENS_DIR [DATA]
  HASH_DIR: portfolio_bench.py --keep HASH_DIR (60/40 libraries, with selfcal)
  LENS_DIR: portfolio_bench.py --split lens --keep LENS_DIR (with selfcal)

1. The light alone by gap: on HASH_DIR's libraries, each stripped photo with a neighbour, its
   nearest gap, whether the estimate is within one stop and whether the neighbours' EV100 is
   within 1 EV of the photo's true one.
2. The cap on an adapted model (pipeline.UNCHECKED_LENS_CAP) replayed on both directories'
   self-calibrated databases: confidences of estimates resting on the model alone, and focal
   confidences, held to the cap where no lens was recorded.
"""

from __future__ import annotations

import glob
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from photo_tagger import library as L  # noqa: E402
from photo_tagger.pipeline import UNCHECKED_LENS_CAP  # noqa: E402
from photo_tagger.store import Store  # noqa: E402
from photo_tagger.tolerance import ONE_STOP, WITHIN_20_PERCENT  # noqa: E402

BINS = np.asarray([round(2 ** (k / 6), 4) for k in range(31)])


def truths(data: Path) -> dict[tuple[str, str], dict]:
    out = subprocess.run(["exiftool", "-q", "-json", "-r", "-n", "-FNumber", "-FocalLength", str(data / "portfolio")],
                         capture_output=True, text=True, check=True)
    return {(Path(r["SourceFile"]).parent.name, Path(r["SourceFile"]).name): r for r in json.loads(out.stdout)
            if "FNumber" in r}


def key(path: str) -> tuple[str, str]:
    """A library folder is the photographer's, or 'photographer~lens' with --split lens."""
    return Path(path).parent.name.split("~")[0], Path(path).name


def light_by_gap(work: Path, truth: dict) -> None:
    found = []
    for db in sorted(glob.glob(str(work / "home-library-*" / "phototag.db"))):
        store = Store(Path(db))
        library = L.Library.from_rows(store.labeled_exposures(), BINS)
        for row in map(dict, store.refinable()):
            if key(row["path"]) not in truth:
                continue
            evidence = library.evidence(row)
            if evidence.ev_mean is None:
                continue
            value, _ = L.refine(BINS, L.decode_probs(row["model_fnumber_probs"]), row, evidence)
            n = truth[key(row["path"])]["FNumber"]
            true_ev = L.scene_ev(n, row["exif_exposure_time"], row["exif_iso"], row["exif_exposure_bias"],
                                 row["exif_exposure_program"])
            found.append((evidence.nearest_gap_s, bool(ONE_STOP.hits(value, n)), abs(evidence.ev_mean - true_ev) <= 1))
    print("the light alone, by the nearest neighbour's gap:")
    for lo, hi in ((0, 60), (60, 300), (300, 900), (900, 3600), (3600, 11000)):
        rows = [f for f in found if lo <= f[0] < hi]
        if rows:
            print(f"  {lo}-{hi} s: n={len(rows)} within one stop {np.mean([r[1] for r in rows]):.0%}, "
                  f"neighbours' EV100 within 1 EV {np.mean([r[2] for r in rows]):.0%}")


def cap_replay(work: Path, truth: dict, cap: float) -> str:
    f, l = [0, 0, 0.0, 0, 0], [0, 0, 0.0, 0, 0]
    for db in glob.glob(str(work / "home-selfcal-*" / "phototag.db")):
        conn = sqlite3.connect(db)
        for path, fn, fc, source, fl, lc, lens in conn.execute(
                "SELECT path, fnumber, fnumber_confidence, fnumber_source, focal_length, focal_length_confidence, "
                "lens_model FROM photos WHERE status = 'predicted'"):
            t = truth.get(key(path))
            if t is None:
                continue
            fc = min(fc, cap) if source == "model" and not lens else fc
            lc = min(lc or 0.0, cap) if not lens else (lc or 0.0)
            hit = bool(ONE_STOP.hits(fn, t["FNumber"]))
            f = [f[0] + hit, f[1] + 1, f[2] + fc, f[3] + (fc >= 0.8), f[4] + (hit and fc >= 0.8)]
            if fl and t.get("FocalLength"):
                hit = bool(WITHIN_20_PERCENT.hits(fl, t["FocalLength"]))
                l = [l[0] + hit, l[1] + 1, l[2] + lc, l[3] + (lc >= 0.8), l[4] + (hit and lc >= 0.8)]
        conn.close()
    line = lambda c: (f"{c[0]}/{c[1]} right, confidence {c[2] / max(c[1], 1):.2f}, "  # noqa: E731
                      f"written {c[3]} ({c[4]} right)")
    return f"FNumber {line(f)}; focal {line(l)}"


def main() -> None:
    hash_dir, lens_dir = Path(sys.argv[1]), Path(sys.argv[2])
    truth = truths(Path(sys.argv[3]) if len(sys.argv) > 3 else ROOT.parent / "shared" / "data")
    light_by_gap(hash_dir, truth)
    for work in (hash_dir, lens_dir):
        for cap in (1.0, UNCHECKED_LENS_CAP):
            print(f"{work.name} self-calibrated, cap {cap}: {cap_replay(work, truth, cap)}")


if __name__ == "__main__":
    main()
