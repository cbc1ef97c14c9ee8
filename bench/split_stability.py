"""How many photos change split when one photo is dropped or relabelled.

Run: .venv/bin/python bench/split_stability.py [--data ../shared/data] [--seeds 5]

On the labeled `train` photos of ../shared/data (the starter build's split), for each seed:
drop each photo in turn, and move each photo's FNumber by two stops in turn (a corrected
label), and count the OTHER photos whose split (train, validation, test) changed. A rebuild
after one label fix should keep nearly all of its test split, so these counts should be a
handful, not a reshuffle. Also prints each part's size and whether the order the photos
were found in changes anything.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from photo_tagger.trainer.harvest import LabeledPhoto, harvest  # noqa: E402
from photo_tagger.trainer.split import split  # noqa: E402
from photo_tagger.trainer.starter import SHIPPED, index_paths  # noqa: E402


def parts(photos: list[LabeledPhoto], seed: int) -> dict[str, int]:
    return {photos[i].path: part for part, indices in enumerate(split(photos, SHIPPED.fractions, seed))
            for i in indices}


def moved(before: dict[str, int], photos: list[LabeledPhoto], seed: int, changed: str) -> int:
    after = parts(photos, seed)
    return sum(after[path] != before[path] for path in after if path != changed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    photos = harvest(index_paths(args.data, "train"), workers=1).photos
    print(f"{len(photos)} labeled photos; fractions {SHIPPED.fractions}")
    for seed in range(args.seeds):
        base = parts(photos, seed)
        sizes = np.bincount(list(base.values()), minlength=3)
        dropped = [moved(base, photos[:i] + photos[i + 1:], seed, photos[i].path) for i in range(len(photos))]
        relabelled = [moved(base, photos[:i] + [replace(p, fnumber=p.fnumber * 2.0)] + photos[i + 1:], seed, p.path)
                      for i, p in enumerate(photos)]
        same = parts(list(reversed(photos)), seed) == base
        print(f"seed {seed}: train/val/test {sizes[0]}/{sizes[1]}/{sizes[2]}; others moved when one photo is "
              f"dropped: mean {np.mean(dropped):.2f}, max {max(dropped)}; relabelled: mean {np.mean(relabelled):.2f}, "
              f"max {max(relabelled)}; found in reverse order: {'same split' if same else 'DIFFERENT split'}")


if __name__ == "__main__":
    main()
