"""Which physics should the heads be given? Each variant against the others, per split seed.

    .venv/bin/python bench/physics_bench.py ../shared/data [--seeds 0 1 2] [--members 5] [--variants ...]

Two questions. Does the depth-of-field head do better in FNumber or in equivalent-aperture
units (N x crop)? And should the EV100 head see the exposure time and ISO, or only the
pixels (and flash, exposure compensation)?

For each split seed, the same ensemble is built each way chosen: the shipped design (the
head predicts the FNumber, the crop factor is an input, the EV100 head reads exposure time
and ISO), the head predicting N x crop that the crop factor converts (equivalent.py), the
same without the crop factor as an input (the physics then enters only through the
conversion), and the shipped design with an EV100 head that judges the light from the
pixels alone. Each is scored on its seed's test
split and on the `dev-only` photos (bodies never trained on), with each FNumber route
alone on the calibration photos (honest, never the test split). Features are cached under
runs/starter/cache.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from ensemble_bench import SHOWN, line, load, scores  # type: ignore[import-not-found]

from photo_tagger.trainer.heads import HeadConfig
from photo_tagger.trainer.starter import SHIPPED

VARIANTS = {
    "fnumber units": SHIPPED,
    "equivalent": replace(SHIPPED, dof_units="equivalent"),
    "equivalent, no crop input": replace(SHIPPED, dof_units="equivalent", heads=HeadConfig(use_crop_input=False)),
    "EV head without t, ISO": replace(SHIPPED, heads=HeadConfig(ev_exposure_inputs=False)),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--members", type=int, default=SHIPPED.members)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    train, dev = load(args.data_dir)
    results: dict = {}
    for seed in args.seeds:
        for name in args.variants:
            config = replace(VARIANTS[name], seed=seed, members=args.members)
            row = results[f"{name}, seed {seed}"] = scores(config, train, dev)
            routes = " ".join(f"{m} {r['within_one_stop']:.2f}/{r['msle']:.3f}" for m, r in row["routes"].items())
            print(f"{name:>26} seed {seed}: " + line(row)
                + f"  | calibration routes (within stop/MSLE): {routes} -> {row['spec']['combine']}"
                + "  | dev-only body means: " + " ".join(f"{v:.2f}" for v in row["dev_only_body_means"].values()),
                flush=True)
    print("columns per split: " + ", ".join(f"{t} {k}" for t, k in SHOWN))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
