"""Head hyperparameters, scored on validation and on the dev-only photos (never the test split).

    .venv/bin/python bench/tune_heads.py ../shared/data
"""

from __future__ import annotations

import sys
from pathlib import Path

from photo_tagger.trainer.harvest import harvest
from photo_tagger.trainer.heads import HeadConfig
from photo_tagger.trainer.starter import index_paths, measure
from photo_tagger.trainer.train import TrainConfig

GRID = {
    f"l2={l2:g} dropout={d:g} lr={lr:g}": TrainConfig(heads=HeadConfig(l2=l2, dropout=d, lr=lr))
    for l2 in (1e-4, 1e-3, 1e-2) for d in (0.0, 0.5) for lr in (1e-3,)
}


def main() -> None:
    data = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
    train = harvest(index_paths(data, "train")).photos
    dev = harvest(index_paths(data, "dev-only")).photos
    result = measure(train, dev, Path("runs/starter/cache"), GRID)
    print(f"{'trial':32} {'route':8} {'val f1stop':>10} {'dev f1stop':>10} {'dev 3bin':>9} {'dev l20%':>9} {'dev fECE':>9}")
    for label, r in result.items():
        v = r["validation"][r["combine"]]
        d = r["dev_only"]
        print(f"{label:32} {r['combine']:8} {v['within_one_stop']:>10.3f} {d['fnumber']['within_one_stop']:>10.3f} "
              f"{d['fnumber']['aperture_3bin_accuracy']:>9.3f} {d['focal35']['within_20_percent']:>9.3f} "
              f"{d['fnumber']['ece']:>9.3f}")


if __name__ == "__main__":
    main()
