"""How long do the heads take to train as a library grows, full-batch or in mini-batches?

    .venv/bin/python bench/heads_scale_bench.py ../shared/data [--copies 1 8 24] [--cache DIR]

`phototag train` fits the heads 25 times (five members and the twenty fits behind the
honest calibration predictions), so one fit's time sets what a large library costs. The
sample photos are too few to show it, so the training rows of the starter model (its
photos marked `train`, with their augmented crops) are repeated COPIES times, each copy's
features jittered by 5% of their spread: a stand-in for a library that many times larger
(more rows, about the same information). Each size is fitted once full-batch (every step
sees every row, as before BATCH_ROWS) and once as `train_heads` now does it, on the
starter's validation photos for early stopping. Printed per fit: rows, steps per pass,
passes run, wall seconds, and the best validation loss per head (which must not get worse
for the speed). The test split is never touched.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from photo_tagger.trainer.harvest import harvest  # noqa: E402
from photo_tagger.trainer.heads import BATCH_ROWS, train_heads  # noqa: E402
from photo_tagger.trainer.starter import SHIPPED, VERSION, index_paths  # noqa: E402
from photo_tagger.trainer.train import base_spec, default_extractor, prepare_data  # noqa: E402

FULL_BATCH = 10**9


def repeated(rows, copies: int, rng: np.random.Generator):  # type: ignore[no-untyped-def]
    """The rows `copies` times over, each copy's features jittered (the first left as is)."""
    spread = rows.features.std(0, keepdims=True) * 0.05
    parts = [rows] + [replace(rows, features=(rows.features + rng.normal(size=rows.features.shape) * spread)
                              .astype(np.float32)) for _ in range(copies - 1)]
    return replace(rows, **{k: np.concatenate([getattr(p, k) for p in parts]) for k in vars(rows)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--copies", type=int, nargs="+", default=[1, 8, 24])
    parser.add_argument("--cache", type=Path, default=Path("runs/starter/cache"))
    args = parser.parse_args()
    torch.set_num_threads(2)
    found = harvest(index_paths(args.data_dir, "train"))
    config = SHIPPED
    data = prepare_data(found.photos, config, default_extractor(config, args.cache), args.cache,
                        partial=found.partial)
    spec = base_spec(VERSION, config)
    train, val = data.features.rows(data.train), data.features.rows(data.val, identity_only=True)
    print(f"{len(train.features)} training rows, {len(val.features)} validation photos; BATCH_ROWS {BATCH_ROWS}")
    print(f"{'rows':>7} {'fit':>11} {'steps/pass':>10} {'passes':>7} {'seconds':>8}   best validation loss")
    for copies in args.copies:
        rows = repeated(train, copies, np.random.default_rng(copies))
        for label, batch in (("full-batch", FULL_BATCH), ("mini-batch", BATCH_ROWS)):
            if label == "mini-batch" and len(rows.features) <= BATCH_ROWS:
                continue  # the same fit as full-batch, step for step
            start = time.perf_counter()
            _, report = train_heads(spec, rows, val, config.heads, batch_rows=batch)
            seconds = time.perf_counter() - start
            steps = -(-len(rows.features) // batch)
            print(f"{len(rows.features):>7} {label:>11} {steps:>10} {report['epochs_run']:>7} {seconds:>8.1f}   "
                  + " ".join(f"{k} {v:.4f}" for k, v in report["best_val_loss"].items()), flush=True)


if __name__ == "__main__":
    main()
