"""Should a confidence's log-odds offset depend on the body's sensor size?

    .venv/bin/python bench/class_shift_bench.py ../shared/data [--seeds 0 1 2]

Uses point_bench's cached ensembles (the same heads and estimates in every row of one seed;
only the confidences move) and calibrates each with one overall offset per target, with an
extra offset per sensor-size group for focal length (what ships), and for both targets.
Per split seed: the Brier score and calibration error of each target's confidences on the
calibration photos, the test split and the dev-only photos (bodies never trained on), the
mean confidence against the hit rate per sensor-size group, and what `--write-exif` would
write at its default threshold; for the dev-only larger sensors, the focal estimates' range
against the truths'. The choice of what ships was made on the calibration and
dev-only photos; the test rows are reported, not used.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from point_bench import SHIPPED_POOL, built, dev_bodies, seed_args  # noqa: E402

from photo_tagger.estimate import estimate  # noqa: E402
from photo_tagger.trainer import calibrate as calib  # noqa: E402
from photo_tagger.trainer.evaluate import brier, ece  # noqa: E402
from photo_tagger.writeback import DEFAULT_MIN_CONFIDENCE  # noqa: E402

VARIANTS = {"one offset per target": (), "per sensor size for focal length (ships)": ("focal35",),
            "per sensor size for both": ("fnumber", "focal35")}
GROUP_NAMES = {0: "phones/compacts", 1: "larger sensors"}


def describe(spec, outputs: dict, rows, priors) -> str:
    """Brier and ECE per target, confidence vs hits per group, and default-threshold writes."""
    groups = calib.row_groups(spec, rows.aux)
    parts = []
    for target, (conf, hit) in calib.confidence_events(spec, outputs, rows.aux, rows.fnumber, rows.focal35,
                                                       priors).items():
        line = f"{target}: Brier {brier(conf, hit):.3f} ECE {ece(conf, hit):.3f}"
        for g, name in GROUP_NAMES.items():
            m = groups == g
            if m.any():
                line += f"; {name} n={m.sum()} conf {conf[m].mean():.2f} hits {hit[m].mean():.2f} Brier {brier(conf[m], hit[m]):.3f}"
        written = conf >= DEFAULT_MIN_CONFIDENCE
        line += f"; written at {DEFAULT_MIN_CONFIDENCE}: {written.sum()} of {len(conf)}, {hit[written].sum():.0f} right"
        parts.append(line)
    return "\n      ".join(parts)


def larger_sensors(spec, outputs: dict, rows, bodies: list[str]) -> str:
    """What the larger sensors' focal estimates are against their truths: the range of each,
    and how many bodies (the estimates do not depend on the offsets)."""
    larger = calib.row_groups(spec, rows.aux) == 1
    focal = [e.focal_length_35mm for e, big in zip(estimate(spec, outputs, rows.aux), larger) if big]
    truth = rows.focal35[larger]
    return (f"larger sensors: {larger.sum()} photos from {len({b for b, big in zip(bodies, larger) if big})} bodies, "
            f"focal estimates {min(focal):.0f}-{max(focal):.0f} mm for truths {truth.min():.0f}-{truth.max():.0f} mm")


def main() -> None:
    args = seed_args(__doc__)
    bodies = dev_bodies(args.data_dir)
    for seed in args.seeds:
        d = built(seed, args.data_dir)
        cal, r = d["cal"], d["cal"].rows
        base = replace(cal.base, prior_pool=dict(SHIPPED_POOL))
        for label, targets in VARIANTS.items():
            spec, _ = calib.calibrate(base, cal.outputs, r.aux, r.fnumber, r.focal35, r.ev100, cal.priors,
                                      class_targets=targets)
            print(f"seed {seed}, {label}: offsets {spec.confidence_shift}, per class {spec.class_shift}")
            for split, (outputs, rows), priors in (("calibration", (cal.outputs, r), cal.priors),
                                                   ("test", d["test"], None), ("dev_only", d["dev"], None)):
                print(f"  {split:>11}: " + describe(spec, outputs, rows, priors), flush=True)
        print(f"  dev_only {larger_sensors(spec, *d['dev'], bodies)}")


if __name__ == "__main__":
    main()
