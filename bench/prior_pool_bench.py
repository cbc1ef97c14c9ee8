"""How should the sensor-size label prior join each distribution: a mixture or a geometric pool?

    .venv/bin/python bench/prior_pool_bench.py ../shared/data [--seeds 0 1 2]

Uses point_bench's cached ensembles (the same heads in every row of one seed; builds a seed's
in about 5 minutes when missing) and calibrates each with the prior pooled linearly for both
targets, geometrically for focal length only (what ships), and geometrically for both. Per
split seed: figures on the calibration photos (what calibration sees), the test split and the
dev-only photos (bodies never trained on), and the dev-only hit rates averaged over bodies
(each body one case: two series of 37 and 23 photos would otherwise decide them). The choice
of what ships was made on the dev-only photos; the test rows are reported, not used.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from point_bench import SHOWN, built, rows_for, dev_bodies, seed_args  # noqa: E402

from photo_tagger.trainer import calibrate as calib  # noqa: E402
from photo_tagger.trainer.evaluate import body_means, per_body  # noqa: E402
from photo_tagger.tolerance import WITHIN_20_PERCENT  # noqa: E402

SERIES = 10  # a dev-only body with this many photos gets its own focal line; the rest are pooled
POOLS = {
    "linear (mixture) both": {"fnumber": "linear", "focal35": "linear"},
    "focal geometric (ships)": {"fnumber": "linear", "focal35": "log"},
    "geometric both": {"fnumber": "log", "focal35": "log"},
}


def focal_by_series(bodies: list[str], estimates: list, truth: np.ndarray) -> str:
    """Median focal estimate against the median truth, and the share within 20%, for each
    long series of one body and for all other bodies together: where does a pooling win?"""
    counts = Counter(bodies)
    groups = [b for b, n in counts.most_common() if n >= SERIES]
    label = np.asarray([b if b in groups else "other bodies" for b in bodies])
    focal = np.asarray([e.focal_length_35mm for e in estimates])
    parts = []
    for name in [*groups, "other bodies"]:
        rows = label == name
        parts.append(f"{name} (n={rows.sum()}) {np.median(focal[rows]):.1f} mm for {np.median(truth[rows]):.0f}, "
                     f"{WITHIN_20_PERCENT.hits(focal[rows], truth[rows]).mean():.2f} within 20%")
    return "; ".join(parts)


def main() -> None:
    args = seed_args(__doc__)
    bodies = dev_bodies(args.data_dir)
    print("columns: " + ", ".join(f"{t} {k}" for t, k in SHOWN))
    for seed in args.seeds:
        d = built(seed, args.data_dir)
        for label, pool in POOLS.items():
            result = rows_for(d, calib.POINT_CHOICES, pool)
            dev_rows = d["dev"][1]
            means = body_means(per_body(bodies, result["dev_estimates"], dev_rows.fnumber, dev_rows.focal35))
            print(f"seed {seed}, {label}: rules {result['point']}, prior weights {result['prior_weight']}")
            for split in ("calibration", "test", "dev_only"):
                model, base = result[split]
                print(f"  {split:>11} model    " + " ".join(f"{model[t][k]:8.3g}" for t, k in SHOWN))
            print(f"  dev-only per body: FNumber within one stop {means['fnumber_within_one_stop']:.2f}, "
                  f"focal within 20% {means['focal35_within_20_percent']:.2f}", flush=True)
            print("  dev-only focal by series: " + focal_by_series(bodies, result["dev_estimates"], dev_rows.focal35))
        for split in ("calibration", "test", "dev_only"):  # the baseline does not depend on the pool
            base = result[split][1]
            print(f"  {split:>11} baseline " + " ".join(f"{base[t][k]:8.3g}" for t, k in SHOWN))


if __name__ == "__main__":
    main()
