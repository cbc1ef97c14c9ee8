"""Did the FLIR crop-factor fix (a body's tags below 0.6 are misread) move the dev-only figures?

    .venv/bin/python bench/label_fix_bench.py ../shared/data [--seeds 0 1 2] [--only before]
        [--keep-test-of models/phototag-starter.onnx]

The fix changed two `train` photos: the FLIR Duo Pro R one (f/1.25, 13 mm) was a full label
at the misread crop factor 0.52 and is now a partial label (crop factor unknown), and the
FLIR Vue Pro one, left out before (9 mm x 0.52 fell below the 5 mm-equivalent floor), now
joins as a partial label. This builds the shipped five-member ensemble on this code both
ways, the labels as fixed and as they were before, with the same split dealing, and scores
each on the dev-only photos (about 4 minutes a build; features cached in runs/starter/cache).
--keep-test-of MODEL keeps that model's test split (every photo it never learned from), as
the starter build does, instead of dealing one per seed.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ensemble_bench import SHOWN, load, scores  # noqa: E402
from photo_tagger.modelspec import AUX_FEATURES  # noqa: E402
from photo_tagger.trainer.harvest import Harvest, LabeledPhoto  # noqa: E402
from photo_tagger.trainer.starter import Predecessor  # noqa: E402
from photo_tagger.trainer.train import TrainConfig  # noqa: E402

MISREAD_CROP = 0.52


def misread(photo: LabeledPhoto) -> LabeledPhoto:
    """The photo labeled as before the fix: the tags' 0.52 taken for the sensor."""
    aux = photo.aux.copy()
    aux[AUX_FEATURES.index("log2_crop_factor")] = math.log2(MISREAD_CROP)
    aux[AUX_FEATURES.index("has_crop_factor")] = 1.0
    return replace(photo, crop=MISREAD_CROP, focal35=photo.focal * MISREAD_CROP, aux=aux)


def before_fix(train: Harvest) -> Harvest:
    duo = [p for p in train.partial if p.body == "FLIR Duo Pro R"]
    vue = [p for p in train.partial if p.body.startswith("FLIR Vue Pro")]
    assert len(duo) == 1 and len(vue) == 1, "the two FLIR photos of ../shared/data were not found"
    partial = [p for p in train.partial if p not in duo + vue]
    return replace(train, photos=train.photos + [misread(duo[0])], partial=partial)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", choices=("fixed", "before"), help="build one of the two labelings only")
    parser.add_argument("--keep-test-of", type=Path, help="keep this model file's test split (starter.Predecessor)")
    args = parser.parse_args()
    previous = Predecessor.of(args.keep_test_of) if args.keep_test_of else None
    train, dev = load(args.data_dir)
    labelings = {"fixed": train, "before": before_fix(train)}
    for seed in args.seeds:
        for name, harvested in labelings.items():
            if args.only in (None, name):
                row = scores(TrainConfig(seed=seed, members=5), harvested, dev, previous)
                figures = " ".join(f"{t} {k} {row['dev_only'][t][k]:.3g}" for t, k in SHOWN)
                print(f"{name:>6} seed {seed}: dev-only {figures}; per body {row['dev_only_body_means']}", flush=True)


if __name__ == "__main__":
    main()
