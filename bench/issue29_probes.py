"""Two probes from issue 29's second session (docs/decisions.md); kept in git history only.

Run: .venv/bin/python bench/issue29_probes.py [DATA] [--starter-db DB]   (under a minute)

1. Does the hour of the day tell EV100 beyond exposure time and ISO? A linear EV100 model on
   log2 exposure time and log2 ISO, with and without day/evening/night indicators, each
   portfolio photographer held out in turn (photos without flash): share within 1 EV.
2. Where is the shipped model over-confident? With --starter-db (the starter's database a
   `bench/portfolio_bench.py --no-selfcal --keep DIR` run leaves in DIR/home-starter), mean
   FNumber confidence and hit rate on portfolio bodies the starter's train photos include,
   and on those they do not.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sqlite3
import subprocess
from datetime import datetime
from pathlib import Path

import numpy as np

TAGS = ["-FNumber", "-ExposureTime", "-ISO", "-DateTimeOriginal", "-Flash", "-ExposureCompensation",
        "-Make", "-Model"]


def exif(folder: Path) -> list[dict]:
    done = subprocess.run(["exiftool", "-j", "-n", "-r", *TAGS, str(folder)], capture_output=True, text=True)
    return json.loads(done.stdout or "[]")


def ev_rows(items: list[dict]) -> list[dict]:
    rows = []
    for r in items:
        try:
            n, t, iso = float(r["FNumber"]), float(r["ExposureTime"]), float(r["ISO"])
            taken = datetime.strptime(str(r["DateTimeOriginal"]), "%Y:%m:%d %H:%M:%S")
        except (KeyError, ValueError, TypeError):
            continue
        if int(r.get("Flash") or 0) & 1 or min(n, t, iso) <= 0:
            continue
        ev = math.log2(n * n / t) - math.log2(iso / 100) + float(r.get("ExposureCompensation") or 0)
        rows.append({"who": Path(r["SourceFile"]).parent.name, "t": t, "iso": iso, "hour": taken.hour, "ev": ev})
    return rows


def held_out_share(rows: list[dict], hour: bool) -> float:
    def features(r: dict) -> list[float]:
        base = [1.0, math.log2(r["t"]), math.log2(r["iso"])]
        night, edge = r["hour"] >= 19 or r["hour"] < 6, 6 <= r["hour"] < 9 or 16 <= r["hour"] < 19
        return base + ([float(night), float(edge)] if hour else [])

    x = np.array([features(r) for r in rows])
    ev = np.array([r["ev"] for r in rows])
    who = np.array([r["who"] for r in rows])
    hits = []
    for person in sorted(set(who)):
        train = who != person
        coef = np.linalg.lstsq(x[train], ev[train], rcond=None)[0]
        hits.extend(np.abs(x[~train] @ coef - ev[~train]) <= 1)
    return float(np.mean(hits))


def seen_bodies(data: Path) -> set[tuple[str, str]]:
    uses = {r["path"]: r["use"] for r in csv.DictReader(open(data / "photos" / "index.tsv"), delimiter="\t")}
    return {(str(r.get("Make")), str(r.get("Model"))) for r in exif(data / "photos")
            if uses.get(str(Path(r["SourceFile"]).relative_to(data / "photos"))) == "train"}


def confidence_by_body(data: Path, db: Path) -> None:
    truth = {(Path(r["SourceFile"]).parent.name, Path(r["SourceFile"]).name): r for r in exif(data / "portfolio")}
    seen = seen_bodies(data)
    groups: dict[bool, list[tuple[float, bool]]] = {True: [], False: []}
    for path, fnumber, confidence in sqlite3.connect(db).execute(
            "SELECT path, fnumber, fnumber_confidence FROM photos WHERE status = 'predicted'"):
        t = truth.get((Path(path).parent.name, Path(path).name))
        if t and t.get("FNumber"):
            hit = abs(math.log2(fnumber / float(t["FNumber"]))) <= 0.5
            groups[(str(t.get("Make")), str(t.get("Model"))) in seen].append((confidence, hit))
    for known, values in groups.items():
        if values:
            conf, hit = np.mean(values, axis=0)
            print(f"{'bodies the starter learned from' if known else 'bodies it never saw'}: "
                  f"{len(values)} photos, mean confidence {conf:.2f}, right {hit:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", type=Path, default=Path("../shared/data"))
    parser.add_argument("--starter-db", type=Path)
    args = parser.parse_args()
    rows = ev_rows(exif(args.data / "portfolio"))
    print(f"EV100 within 1 EV, each photographer held out ({len(rows)} photos without flash): "
          f"exposure time + ISO {held_out_share(rows, False):.2f}, with the hour {held_out_share(rows, True):.2f}")
    if args.starter_db:
        confidence_by_body(args.data, args.starter_db)


if __name__ == "__main__":
    main()
