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
3. Distance from the training photos in the backbone's features (mean cosine distance to the
   5 nearest training photos; for a training photo, of other bodies): train against the
   stripped portfolio copies in DIR/stripped, and hit rate against confidence by distance.
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

from photo_tagger.analyse import Task, analyse  # noqa: E402
from photo_tagger.calibration import sensor_class  # noqa: E402
from photo_tagger.camera import UNKNOWN_BODY, body_name  # noqa: E402
from photo_tagger.estimate import estimate  # noqa: E402
from photo_tagger.modelspec import INPUT_AUX, INPUT_IMAGE, SPEC_KEY, ModelSpec  # noqa: E402
from photo_tagger.preprocess import normalise  # noqa: E402
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


def nearest_distance(features: np.ndarray, reference: np.ndarray, excluded: np.ndarray | None = None) -> np.ndarray:
    """Mean cosine distance of each row to its 5 nearest reference rows (excluded: a mask)."""
    unit = lambda x: x / np.linalg.norm(x, axis=1, keepdims=True)  # noqa: E731
    sim = unit(features) @ unit(reference).T
    if excluded is not None:
        sim[excluded] = -np.inf
    return 1.0 - np.sort(sim, axis=1)[:, -5:].mean(1)


def portfolio_outputs(work: Path, data: Path, spec: ModelSpec) -> tuple[dict, np.ndarray, np.ndarray]:
    """The starter's outputs (features too) on the stripped copies, their aux rows and truths."""
    import onnxruntime as ort

    out = subprocess.run(["exiftool", "-q", "-json", "-r", "-n", "-FNumber", str(data / "portfolio")],
                         capture_output=True, text=True, check=True)
    truth = {(Path(r["SourceFile"]).parent.name, Path(r["SourceFile"]).name): float(r["FNumber"])
             for r in json.loads(out.stdout) if "FNumber" in r}
    session = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    items = []
    for path in sorted((work / "stripped").rglob("*")):
        if (path.parent.name, path.name) in truth:
            stat = path.stat()
            found = analyse(Task(str(path), stat.st_size, stat.st_mtime_ns, True), spec)
            if found.pixels is not None:
                items.append((truth[(path.parent.name, path.name)], found.pixels, found.aux))
    parts: dict[str, list] = defaultdict(list)
    for i in range(0, len(items), 16):
        batch = items[i:i + 16]
        got = session.run(names, {INPUT_IMAGE: normalise(np.stack([b[1] for b in batch]), spec),
                                  INPUT_AUX: np.stack([b[2] for b in batch])})
        for name, value in zip(names, got):
            parts[name].append(value)
    outputs = {name: np.concatenate(v) for name, v in parts.items()}
    return outputs, np.stack([b[2] for b in items]), np.asarray([b[0] for b in items])


def by_distance(label: str, distance: np.ndarray, hit: np.ndarray, conf: np.ndarray, edges: np.ndarray) -> None:
    print(f"  {label}: distance quartiles {np.round(np.quantile(distance, [0.25, 0.5, 0.75]), 2)}")
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (distance >= lo) & (distance <= hi)
        if m.any():
            print("  " + line(f"distance {lo:.2f}-{hi:.2f}", hit[m], conf[m]))


def body_held_out(data: Path, spec: ModelSpec, work: Path) -> None:
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
    bodies = np.asarray([p.body for p in photos])
    own = (bodies[:, None] == bodies[None, :]) & known[:, None]
    np.fill_diagonal(own, True)
    train_distance = nearest_distance(rows.features, rows.features, own)
    outputs, aux, truth = portfolio_outputs(work, data, spec)
    found = estimate(spec, outputs, aux)
    p_hit = ONE_STOP.hits(np.asarray([e.fnumber for e in found]), truth)
    p_conf = np.asarray([e.fnumber_confidence for e in found])
    p_distance = nearest_distance(outputs["features"], rows.features)
    edges = np.quantile(np.concatenate([train_distance, p_distance]), [0, 1 / 3, 2 / 3, 1])
    print("distance from the training photos:")
    by_distance("train split (other bodies)", train_distance, hit, conf, edges)
    by_distance("portfolio, model alone", p_distance, p_hit, p_conf, edges)


def main() -> None:
    work = Path(sys.argv[1])
    data = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT.parent / "shared" / "data"
    spec = ModelSpec.from_json(metadata(MODEL)[SPEC_KEY])
    portfolio(work, data, spec)
    body_held_out(data, spec, work)


if __name__ == "__main__":
    main()
