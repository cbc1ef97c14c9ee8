"""Issue 29, third session: the library-evidence probes behind docs/decisions.md.

Run: .venv/bin/python bench/portfolio_bench.py ../shared/data --keep DIR
     .venv/bin/python bench/issue29_library_probes.py DIR [DATA]

Re-weighs the estimates kept in DIR's databases (library: 60% labeled, 40% stripped, starter;
selfcal: the same after `phototag train`) with library.py's constants changed, and scores
them on the stripped photos against the original files (development measurement on the
portfolio photographers). No model runs; about a minute.
"""

from __future__ import annotations

import glob
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from photo_tagger import library as L  # noqa: E402
from photo_tagger.store import Store  # noqa: E402
from photo_tagger.tolerance import ONE_STOP  # noqa: E402

BINS = np.asarray([round(2 ** (k / 6), 4) for k in range(31)])


def truths(data: Path) -> dict[tuple[str, str], float]:
    out = subprocess.run(["exiftool", "-q", "-json", "-r", "-n", "-FNumber", str(data / "portfolio")],
                         capture_output=True, text=True, check=True)
    return {(Path(r["SourceFile"]).parent.name, Path(r["SourceFile"]).name): float(r["FNumber"])
            for r in json.loads(out.stdout) if "FNumber" in r}


def load(work: Path, kind: str) -> list[tuple[list[dict], list]]:
    found = []
    for db in sorted(glob.glob(str(work / f"home-{kind}-*" / "phototag.db"))):
        store = Store(Path(db))
        found.append(([dict(r) for r in store.labeled_exposures()], [dict(r) for r in store.refinable()]))
    return found


def score(data: list[tuple[list[dict], list]], truth: dict) -> str:
    """Within one stop, mean confidence, and written at 0.8 (right), with the current constants."""
    hits = n = written = right = 0
    conf = 0.0
    for labeled, rows in data:
        library = L.Library.from_rows(labeled, BINS)  # the habit kernel depends on the constants
        for row in rows:
            key = (Path(row["path"]).parent.name, Path(row["path"]).name)
            if key not in truth or row["model_fnumber_probs"] is None:
                continue
            evidence = library.evidence(row)
            if evidence.empty:
                value, c = row["model_fnumber"], row["model_fnumber_confidence"]
            else:
                value, c = L.refine(BINS, L.decode_probs(row["model_fnumber_probs"]), row, evidence)
            hit = bool(ONE_STOP.hits(value, truth[key]))
            hits, n, conf = hits + hit, n + 1, conf + c
            written, right = written + (c >= 0.8), right + (hit and c >= 0.8)
    return f"{hits}/{n} = {hits / max(n, 1):.1%} within one stop, conf {conf / max(n, 1):.2f}, written {written} ({right} right)"


def lens_swap() -> str:
    """A year of a zoom at f/8 (200 photos, six that morning); a minute later a manual lens at a
    shutter 32 times faster in the same light: the light says f/1.4."""
    def row(**v: object) -> dict:
        base = {"path": "q.jpg", "camera_make": "Canon", "camera_model": "Canon EOS 5D Mark III",
                "taken_at": "2020-12-13T10:46:30", "exif_fnumber": 8.0, "exif_exposure_time": 1 / 250,
                "exif_iso": 1600.0, "exif_exposure_bias": 0.0, "exif_flash_fired": 0, "exif_exposure_program": 3}
        return {**base, **v}
    rows = [row(path=f"y{i}.jpg", taken_at=f"2020-{1 + i % 11:02d}-{1 + i % 27:02d}T10:00:00") for i in range(200)]
    rows += [row(path=f"m{i}.jpg", taken_at=f"2020-12-13T10:{40 + i}:00") for i in range(6)]
    library = L.Library.from_rows(rows, BINS)
    query = row(exif_exposure_time=1 / 8000, exif_fnumber=None)
    value, c = L.refine(BINS, np.full(len(BINS), 1 / len(BINS)), query, library.evidence(query))
    return f"lens swap: f/{value:.1f} at {c:.2f}"


def grid(name: str, settings: list[dict], data: dict, truth: dict) -> None:
    kept = {k: getattr(L, k) for k in settings[0]}
    for setting in settings:
        for k, v in setting.items():
            setattr(L, k, v)
        line = " | ".join(f"{kind}: {score(d, truth)}" for kind, d in data.items())
        print(f"{name} {setting}: {line} | {lens_swap()}", flush=True)
    for k, v in kept.items():
        setattr(L, k, v)


def main() -> None:
    work = Path(sys.argv[1])
    truth = truths(Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT.parent / "shared" / "data")
    data = {kind: load(work, kind) for kind in ("library", "selfcal")}
    grid("outing", [{"SAME_OUTING_WEIGHT": a, "OUTING_S": s} for a in (0.0, 5.0, 10.0, 20.0, 50.0)
                    for s in (3600.0, 21600.0, 86400.0, 259200.0)], data, truth)
    grid("floor", [{"HABIT_FLOOR": f} for f in (0.0, 0.05, 0.1, 0.2, 0.25, 0.3)], data, truth)
    grid("model power", [{"MODEL_WEIGHT": w} for w in (0.0, 0.1, 0.25, 0.5, 0.75, 1.0)], data, truth)


if __name__ == "__main__":
    main()
