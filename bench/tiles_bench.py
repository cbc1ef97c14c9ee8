"""Do high-resolution tiles carry depth of field that the squashed 320 px frame loses?

Run: .venv/bin/python bench/tiles_bench.py ../shared/data [--grid 2] [--seeds 0 1 2] [--trials ...]
(needs the training extra; on 2 cores about 11 minutes for --grid 2 and 15 for --grid 3 with
the three tile trials, the default, most of it rendering and the backbone, cached in
runs/starter/cache for later runs; --trials "global only" "global + sharpness" about 4 more)

Each photo (and each training variant, cropped on the full-size image as the trainer does)
is rendered at grid x 320 px. The frame pooled back to 320 px is the global view; the
grid x grid tiles are the same frame at grid times the resolution. The backbone runs on
all of them, and the heads see, per trial, the global features alone (the control), with
the tiles' mean feature added, or with the tiles' mean and spread (how much the tiles
differ: sharp subject, blurred background), or with ten numbers on how sharpness varies
over the frame and across one octave (SharpnessExtractor: no backbone). One set of heads per trial, calibrated as the
trainer does, on the same split; printed per split seed: the calibration photos (honest
out-of-fold predictions, never test) and the 105 dev-only photos from bodies it never saw.
The test split is not touched: this chooses a design.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from photo_tagger.estimate import estimate  # noqa: E402
from photo_tagger.trainer import calibrate as calib  # noqa: E402
from photo_tagger.trainer.augment import IDENTITY  # noqa: E402
from photo_tagger.trainer.evaluate import body_means, model_figures, per_body  # noqa: E402
from photo_tagger.trainer.features import Extractor, FeatureSet, backbone_extractor, extract  # noqa: E402
from photo_tagger.trainer.harvest import harvest  # noqa: E402
from photo_tagger.trainer.heads import logits  # noqa: E402
from photo_tagger.trainer.starter import index_paths  # noqa: E402
from photo_tagger.trainer.train import Prepared, TrainConfig, base_spec, calibration_set, prepare_data  # noqa: E402
from photo_tagger.modelspec import default_spec  # noqa: E402

TILE = 320
SHARP_DIM = 10


class TileExtractor:
    """The global view's features, then the tiles' mean and standard deviation."""

    def __init__(self, backbone: Extractor, grid: int) -> None:
        self.backbone, self.grid = backbone, grid

    def __call__(self, images: np.ndarray, aux: np.ndarray) -> np.ndarray:
        n, c, size, _ = images.shape
        g = self.grid
        pooled = images.reshape(n, c, TILE, g, TILE, g).mean(axis=(3, 5))  # box filter down to 320 px
        tiles = images.reshape(n, c, g, TILE, g, TILE).transpose(0, 2, 4, 1, 3, 5).reshape(n * g * g, c, TILE, TILE)
        whole = self.backbone(np.ascontiguousarray(pooled, dtype=np.float32), aux)
        parts = self.backbone(np.ascontiguousarray(tiles, dtype=np.float32), aux).reshape(n, g * g, -1)
        return np.concatenate([whole, parts.mean(axis=1), parts.std(axis=1)], axis=1).astype(np.float32)

    def identity(self) -> str:
        return f"tiles{self.grid}:{self.backbone.identity()}"


class SharpnessExtractor:
    """A handful of numbers on how sharpness varies over the frame, with no backbone.

    Shallow depth of field leaves some regions crisp and others smooth; per block of a
    4 x 4 grid, the log Laplacian energy (fine detail) and its ratio to the energy one
    octave down (blur removes fine detail first, texture does not): their spread over the
    blocks, extremes and mean.
    """

    blocks = 4

    def __call__(self, images: np.ndarray, aux: np.ndarray) -> np.ndarray:
        lum = images.mean(axis=1)
        fine = self._energy(lum)
        n, s, _ = lum.shape
        coarse = self._energy(lum.reshape(n, s // 2, 2, s // 2, 2).mean(axis=(2, 4)))
        ratio = fine - coarse
        out = []
        for values in (fine, ratio):
            out += [values.mean(1), values.std(1), values.max(1), values.min(1),
                    np.percentile(values, 90, axis=1) - np.percentile(values, 10, axis=1)]
        return np.stack(out, axis=1).astype(np.float32)

    def _energy(self, lum: np.ndarray) -> np.ndarray:
        lap = 4 * lum[:, 1:-1, 1:-1] - lum[:, :-2, 1:-1] - lum[:, 2:, 1:-1] - lum[:, 1:-1, :-2] - lum[:, 1:-1, 2:]
        n, h, w = lap.shape
        b = self.blocks
        lap = lap[:, : h - h % b, : w - w % b] ** 2
        per_block = lap.reshape(n, b, lap.shape[1] // b, b, lap.shape[2] // b).mean(axis=(2, 4))
        return np.log(per_block.reshape(n, b * b) + 1e-6)

    def identity(self) -> str:
        return f"sharpness{self.blocks}:v1"


SHARPNESS = "global + sharpness"
TRIALS = ("global only", "global + tile mean", "global + tile mean + spread", SHARPNESS)


def columns(features: np.ndarray, trial: str, width: int) -> np.ndarray:
    """A trial's columns of [frame, tile mean, tile spread (, sharpness)], each block width wide."""
    keep = {"global only": np.arange(width), "global + tile mean": np.arange(2 * width),
            "global + tile mean + spread": np.arange(3 * width),
            SHARPNESS: np.r_[np.arange(width), np.arange(3 * width, 3 * width + SHARP_DIM)]}
    return np.ascontiguousarray(features[:, keep[trial]])


def joined(parts: list[FeatureSet]) -> FeatureSet:
    """The same rows with each part's feature columns after the one before."""
    first = parts[0]
    assert all(np.array_equal(first.photo, p.photo) and np.array_equal(first.identity, p.identity) for p in parts)
    return replace(first, features=np.concatenate([p.features for p in parts], axis=1))


def sliced(rows: FeatureSet, trial: str, width: int) -> FeatureSet:
    return replace(rows, features=columns(rows.features, trial, width))


def run_trial(data: Prepared, dev: FeatureSet, dev_bodies: list[str], trial: str, seed: int, width: int) -> dict:
    config = TrainConfig(input_size=TILE, seed=seed)
    data = replace(data, features=sliced(data.features, trial, width))
    heads, _, cal = calibration_set(data, base_spec("tiles", config), config)
    rows = cal.rows
    spec, report = calib.calibrate(cal.base, cal.outputs, rows.aux, rows.fnumber, rows.focal35, rows.ev100,
                                   cal.priors, class_targets=config.class_shift)
    on_cal = model_figures(estimate(spec, cal.outputs, rows.aux, priors=cal.priors), rows.fnumber, rows.focal35)
    dev_rows = sliced(dev, trial, width)
    dev_est = estimate(spec, logits(heads, dev_rows), dev_rows.aux)
    return {"dof": report["routes_validation"]["dof"], "route": spec.combine, "cal": on_cal,
            "dev": model_figures(dev_est, dev_rows.fnumber, dev_rows.focal35),
            "dev_bodies": body_means(per_body(dev_bodies, dev_est, dev_rows.fnumber, dev_rows.focal35))}


def line(label: str, r: dict) -> str:
    c, d = r["cal"], r["dev"]
    return (f"  {label:<28} {r['dof']['within_one_stop']:>6.2f} {r['dof']['msle']:>6.3f} "
            f"{c['fnumber']['within_one_stop']:>6.2f} {c['focal35']['within_20_percent']:>6.2f} {c['focal35']['mape']:>6.1f} "
            f"{d['fnumber']['within_one_stop']:>6.2f} {d['fnumber']['msle']:>6.3f} {d['focal35']['within_20_percent']:>6.2f} "
            f"{d['focal35']['mape']:>6.1f} {r['dev_bodies']['fnumber_within_one_stop']:>6.2f} {r['route']:>8}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--grid", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--trials", nargs="+", default=list(TRIALS[:3]), choices=TRIALS)
    parser.add_argument("--cache", type=Path, default=ROOT / "runs" / "starter" / "cache")
    args = parser.parse_args()
    train = harvest(index_paths(args.data_dir, "train"))
    dev_photos = harvest(index_paths(args.data_dir, "dev-only")).photos
    extractor = TileExtractor(backbone_extractor("lite0", TILE, args.cache), args.grid)
    size = TILE * args.grid
    extractors = [extractor] + ([SharpnessExtractor()] if SHARPNESS in args.trials else [])  # rendered only when asked
    spec = default_spec("features", size)
    plans = [[IDENTITY]] * len(dev_photos)
    dev_parts = [extract(dev_photos, plans, spec, e, args.cache) for e in extractors]
    width = dev_parts[0].features.shape[1] // 3  # the tiles' part is three backbone widths
    dev = joined(dev_parts)
    print(f"{args.grid}x{args.grid} tiles of {TILE} px ({size} px frame); {len(train.photos)} labeled photos, "
          f"{len(dev_photos)} dev-only. Columns: dof route on calibration photos (within one stop, MSLE); "
          "chosen pipeline on calibration photos (FNumber within one stop, focal within 20%, focal MAPE); "
          "dev-only (FNumber within one stop, MSLE, focal within 20%, MAPE; FNumber within one stop averaged "
          "per body); route chosen")
    for seed in args.seeds:
        config = TrainConfig(input_size=size, seed=seed)
        prepared = [prepare_data(train.photos, config, e, args.cache, partial=train.partial) for e in extractors]
        data = replace(prepared[0], features=joined([p.features for p in prepared]))
        print(f"seed {seed}:")
        for trial in args.trials:
            print(line(trial, run_trial(data, dev, [p.body for p in dev_photos], trial, seed, width)), flush=True)


if __name__ == "__main__":
    main()
