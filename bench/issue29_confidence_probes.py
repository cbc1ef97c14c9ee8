"""Issue 29, third session: where the model alone's FNumber confidence runs high, and whether
folds of the train split can see it. Behind docs/decisions.md.

Run: .venv/bin/python bench/portfolio_bench.py ../shared/data --no-selfcal --keep DIR
     .venv/bin/python bench/issue29_confidence_probes.py DIR [DATA]

1. On the portfolio (DIR/home-starter, development measurement): hit rate and mean
   confidence by exposure program and by whether the starter's training photos include the body.
2. On the train split: a 5-member ensemble dealt by body (calibration_groups "body", the
   shipped configuration otherwise, about 15 minutes on two cores), its out-of-fold
   predictions scored with the shipped spec, per sensor-size group and exposure program,
   with the extra log-odds offset best_shift would fit for each group.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from photo_tagger.calibration import sensor_class  # noqa: E402
from photo_tagger.camera import UNKNOWN_BODY, body_name  # noqa: E402
from photo_tagger.estimate import estimate  # noqa: E402
from photo_tagger.modelspec import SPEC_KEY, ModelSpec  # noqa: E402
from photo_tagger.tolerance import ONE_STOP  # noqa: E402
from photo_tagger.trainer.calibrate import best_shift, shift_groups  # noqa: E402
from photo_tagger.trainer.ensemble import ensemble_calibration_set  # noqa: E402
from photo_tagger.trainer.export import metadata  # noqa: E402
from photo_tagger.trainer.harvest import harvest  # noqa: E402
from photo_tagger.trainer.starter import SHIPPED, VERSION, Predecessor, index_paths, prepare  # noqa: E402
from photo_tagger.trainer.train import base_spec  # noqa: E402

MODEL = ROOT / "models" / "phototag-starter.onnx"


def line(label: str, hit: np.ndarray, conf: np.ndarray) -> str:
    return f"  {label:28s} n={len(hit):4d} right {hit.mean():.0%} confidence {conf.mean():.2f}"


def portfolio(work: Path, data: Path, spec: ModelSpec) -> None:
    out = subprocess.run(["exiftool", "-q", "-json", "-r", "-n", "-FNumber", str(data / "portfolio")],
                         capture_output=True, text=True, check=True)
    truth = {(Path(r["SourceFile"]).parent.name, Path(r["SourceFile"]).name): float(r["FNumber"])
             for r in json.loads(out.stdout) if "FNumber" in r}
    seen = set(spec.info["training_data"]["train_bodies"])
    groups: dict[str, list[tuple[bool, float]]] = defaultdict(list)
    conn = sqlite3.connect(work / "home-starter" / "phototag.db")
    for path, fnumber, conf, program, make, model in conn.execute(
            "SELECT path, fnumber, fnumber_confidence, exif_exposure_program, camera_make, camera_model "
            "FROM photos WHERE status = 'predicted'"):
        key = (Path(path).parent.name, Path(path).name)
        if key in truth:
            hit = bool(ONE_STOP.hits(fnumber, truth[key]))
            groups[f"exposure program {program}"].append((hit, conf))
            groups[f"body {'seen' if body_name(make, model) in seen else 'unseen'} in training"].append((hit, conf))
    print("portfolio, model alone:")
    for name in sorted(groups):
        hit, conf = (np.asarray(v) for v in zip(*groups[name]))
        print(line(name, hit, conf))


def body_held_out(data: Path, spec: ModelSpec) -> None:
    train = harvest(index_paths(data, "train"))
    config = replace(SHIPPED, calibration_groups="body")
    prepared = prepare(train.photos, config, ROOT / "runs" / "starter" / "cache", train.partial, Predecessor.of(MODEL))
    _, _, cal = ensemble_calibration_set(prepared, base_spec(VERSION, config), config)
    rows = cal.rows
    photos = [prepared.photos[i] for i in rows.photo]
    out = subprocess.run(["exiftool", "-q", "-json", "-n", "-ExposureProgram", *sorted({p.path for p in photos})],
                         capture_output=True, text=True, check=True)
    program = {r["SourceFile"]: r.get("ExposureProgram") for r in json.loads(out.stdout)}
    est = estimate(spec, cal.outputs, rows.aux, priors=cal.priors)
    hit = ONE_STOP.hits(np.asarray([e.fnumber for e in est]), rows.fnumber)
    conf = np.asarray([e.fnumber_confidence for e in est])
    group = np.asarray(shift_groups(spec))[sensor_class(rows.aux, spec.prior["crop_bounds"])]
    known = np.asarray([p.body != UNKNOWN_BODY for p in photos])
    print("train split, bodies held out whole, shipped spec:")
    for g, name in ((0, "phones and compacts"), (1, "larger sensors")):
        m = known & (group == g)
        print(line(name, hit[m], conf[m]) + f", extra offset {best_shift(conf[m], hit[m].astype(float)):+.2f}"
              f", {len({p.body for p, k in zip(photos, m) if k})} bodies")
        for p in sorted({program.get(ph.path) for ph, k in zip(photos, m) if k}, key=str):
            mp = m & np.asarray([program.get(ph.path) == p for ph in photos])
            print("  " + line(f"exposure program {p}", hit[mp], conf[mp]))


def main() -> None:
    work = Path(sys.argv[1])
    data = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT.parent / "shared" / "data"
    spec = ModelSpec.from_json(metadata(MODEL)[SPEC_KEY])
    portfolio(work, data, spec)
    body_held_out(data, spec)


if __name__ == "__main__":
    main()
