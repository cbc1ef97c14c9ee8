"""What a larger input costs: decode + preprocess and backbone time per photo, per input size.

Run: .venv/bin/python bench/input_size_bench.py [--sizes 224 320 448] [--photos 24] [--data ../shared/data]
(needs the training extra: the bare backbone is exported once per size into runs/starter/cache)

The other half of the question, what a larger input buys, is in the shipped model's card
("Development measurements": the 224, 320 and 448 px trials on validation and on photos
from bodies the model never saw, `python -m photo_tagger.trainer.starter ../shared/data --measure`).

Each figure is the median over the photos of the best of 3 runs, on the CPU, one photo
at a time (as `scan` runs the model on a CPU), with onnxruntime on all cores.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from photo_tagger.modelspec import AUX_FEATURES, default_spec  # noqa: E402
from photo_tagger.preprocess import prepare  # noqa: E402
from photo_tagger.trainer.features import backbone_extractor  # noqa: E402
from photo_tagger.trainer.starter import index_paths  # noqa: E402


def best_of(runs: int, work) -> float:  # type: ignore[no-untyped-def]
    """The quickest of a few runs, in milliseconds: the least disturbed by other work."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return min(times)


def measure(size: int, files: list[bytes], cache: Path) -> tuple[float, float]:
    """(decode + preprocess ms, backbone ms) per photo at this input size, medians."""
    spec = default_spec("bench", size)
    extractor = backbone_extractor("lite0", size, cache)
    aux = np.zeros((1, len(AUX_FEATURES)), np.float32)
    prep, model = [], []
    for data in files:
        prep.append(best_of(3, lambda: prepare(data, spec)))
        image = prepare(data, spec)[None]
        extractor(image, aux)  # warm-up: the first run allocates
        model.append(best_of(3, lambda: extractor(image, aux)))
    return float(np.median(prep)), float(np.median(model))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[224, 320, 448])
    parser.add_argument("--photos", type=int, default=24)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--cache", type=Path, default=ROOT / "runs" / "starter" / "cache")
    args = parser.parse_args()
    files = [Path(p).read_bytes() for p in index_paths(args.data, "train")[: args.photos]]
    print(f"{len(files)} photos from {args.data} (median size {np.median([len(f) for f in files]) / 1e6:.1f} MB)")
    print(f"{'input':>6} {'decode+prep ms':>15} {'backbone ms':>12} {'photos/s, one after another':>28}")
    for size in args.sizes:
        prep, model = measure(size, files, args.cache)
        print(f"{size:>6} {prep:>15.1f} {model:>12.1f} {1000 / (prep + model):>28.1f}")


if __name__ == "__main__":
    main()
