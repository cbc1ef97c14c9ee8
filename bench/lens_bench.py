"""How much a declared lens improves the FNumber (and focal length) figures.

Run: .venv/bin/python bench/lens_bench.py                 (the shipped model, held-out photos)
     .venv/bin/python bench/lens_bench.py --model M.onnx  (any phototag model)
     .venv/bin/python bench/lens_bench.py --tiny          (no trained model yet: the tests' tiny
                                                           random model, to check the mechanics only)

On the labeled photos of ../shared/data/photos (by default the 'dev-only' ones, which the
shipped model is not trained on), each photo's real lens is treated as declared:
 - a body that shows one focal length in the set has a prime at that focal length, with
   a typical f/1.8-f/16 range (widened to include the photo's own FNumber), third stops;
 - a body that shows several has a zoom from its shortest to its longest focal length,
   with the widest FNumber it shows to f/16 or its smallest, third stops.
Every photo goes through the scan's own path (analyse -> model -> estimate); the model
runs once per photo and both answers come from the same logits, so the comparison is on
exactly the same photos. Printed side by side: FNumber error, within one stop and a third
of a stop, the mean confidence (honest when it matches the within-one-stop rate), and the
35 mm-equivalent focal length error.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from photo_tagger.analyse import Task, analyse  # noqa: E402
from photo_tagger.errors import NoModelInstalled  # noqa: E402
from photo_tagger.estimate import Estimate, estimate  # noqa: E402
from photo_tagger.preprocess import normalise  # noqa: E402
from photo_tagger.infer import Predictor  # noqa: E402
from photo_tagger.lenses import Lens  # noqa: E402
from photo_tagger.registry import default_model  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "photos"


@dataclass(frozen=True)
class Labeled:
    path: Path
    fnumber: float
    focal35: float
    body: str


def load(photos: Path, use: str, spec) -> list[tuple[Labeled, object]]:  # type: ignore[no-untyped-def]
    """The labeled photos with their analysed model inputs (the scan's own path)."""
    with open(photos / "index.tsv", newline="", encoding="utf-8") as handle:
        listed = [row for row in csv.DictReader(handle, delimiter="\t") if use == "all" or row["use"] == use]
    out = []
    for row in listed:
        path = photos / row["path"]
        item = analyse(Task(str(path), path.stat().st_size, 0, True), spec)
        meta = item.meta
        if item.pixels is None or meta is None or not meta.has_lens_exif or item.crop is None:
            continue
        body = " ".join(filter(None, (meta.make, meta.model))) or "(unknown)"
        out.append((Labeled(path, meta.fnumber, meta.focal_length * item.crop.value, body), item))  # type: ignore[operator]
    return out


def declared_lenses(items: list[tuple[Labeled, object]]) -> list[Lens]:
    """Each photo's real lens, derived from the EXIF of its body's photos (see the docstring)."""
    focals: dict[str, set[float]] = defaultdict(set)
    apertures: dict[str, list[float]] = defaultdict(list)
    for label, item in items:
        focals[label.body].add(round(item.meta.focal_length, 1))  # type: ignore[attr-defined]
        apertures[label.body].append(label.fnumber)
    lenses = []
    for label, item in items:
        real = item.meta.focal_length  # type: ignore[attr-defined]
        body_focals = focals[label.body]
        if len(body_focals) == 1:
            lens = Lens("prime", real, real, min(1.8, label.fnumber), max(16.0, label.fnumber), "third")
        else:
            lens = Lens("zoom", min(body_focals), max(body_focals), min(apertures[label.body]),
                        max(16.0, max(apertures[label.body])), "third")
        lenses.append(lens)
    return lenses


def figures(labels: list[Labeled], estimates: list[Estimate]) -> dict[str, float]:
    stops = np.asarray([abs(2 * math.log2(e.fnumber / t.fnumber)) for t, e in zip(labels, estimates)])
    f_err = np.asarray([abs(e.fnumber - t.fnumber) / t.fnumber for t, e in zip(labels, estimates)])
    l_err = np.asarray([abs(e.focal_length_35mm - t.focal35) / t.focal35 for t, e in zip(labels, estimates)])
    return {
        "FNumber MAPE %": 100 * f_err.mean(),
        "FNumber median error (stops)": float(np.median(stops)),
        "FNumber within 1 stop %": 100 * (stops <= 1 + 1e-6).mean(),
        "FNumber within 1/3 stop %": 100 * (stops <= 1 / 3 + 1e-6).mean(),
        "FNumber mean confidence %": 100 * float(np.mean([e.fnumber_confidence for e in estimates])),
        "focal35 MAPE %": 100 * l_err.mean(),
        "focal35 within 20 % %": 100 * (l_err <= 0.2 + 1e-6).mean(),
        "focal35 mean confidence %": 100 * float(np.mean([e.focal_length_confidence for e in estimates])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="ONNX model (default: the installed/shipped one)")
    parser.add_argument("--tiny", action="store_true", help="use the tests' tiny random model (mechanics only)")
    parser.add_argument("--photos", type=Path, default=SHARED)
    parser.add_argument("--use", choices=("dev-only", "train", "all"), default="dev-only",
                        help="which photos of index.tsv (default: dev-only, held out from training)")
    args = parser.parse_args()

    if args.tiny:
        from tinymodel import build_tiny_model

        model = build_tiny_model(Path(tempfile.mkdtemp()) / "tiny.onnx")
        print("NOTE: tiny random test model: these figures check the mechanics, not the model's quality")
    else:
        try:
            model = args.model or default_model().path
        except NoModelInstalled:
            print("no trained model: models/phototag-starter.onnx does not exist yet. "
                  "Pass --model FILE, or --tiny to check the mechanics.")
            raise SystemExit(2)
    predictor = Predictor(model, "cpu")
    items = load(args.photos, args.use, predictor.spec)
    if not items:
        raise SystemExit("no labeled photos found")
    labels = [label for label, _ in items]
    lenses = declared_lenses(items)
    images = normalise(np.stack([item.pixels for _, item in items]), predictor.spec)  # type: ignore[attr-defined]
    aux = np.stack([item.aux for _, item in items])  # type: ignore[attr-defined]
    outputs: dict[str, list[np.ndarray]] = defaultdict(list)
    for start in range(0, len(items), 16):  # one model run per photo, shared by both answers
        for name, value in predictor.raw(images[start:start + 16], aux[start:start + 16]).items():
            outputs[name].append(value)
    logits = {name: np.concatenate(parts) for name, parts in outputs.items()}
    crops = [item.crop.value for _, item in items]  # type: ignore[attr-defined]
    free = estimate(predictor.spec, logits, aux)
    known = estimate(predictor.spec, logits, aux, constraints=[(lens.constraint(c),) for lens, c in zip(lenses, crops)])

    primes = sum(lens.is_prime for lens in lenses)
    print(f"model {predictor.spec.model_version} ({Path(model).name}); {len(items)} labeled '{args.use}' photos "
          f"with lens EXIF ({primes} declared primes, {len(items) - primes} zooms, "
          f"{len({label.body for label in labels})} bodies)")
    for title, subset in (("all photos", range(len(items))),
                          ("zooms only", [i for i, lens in enumerate(lenses) if not lens.is_prime])):
        if not subset:
            continue
        a = figures([labels[i] for i in subset], [free[i] for i in subset])
        b = figures([labels[i] for i in subset], [known[i] for i in subset])
        print(f"\n{title} (n={len(subset)})")
        print(f"{'':32}{'unconstrained':>15}{'lens declared':>15}")
        for key in a:
            print(f"{key:32}{a[key]:15.1f}{b[key]:15.1f}")


if __name__ == "__main__":
    main()
