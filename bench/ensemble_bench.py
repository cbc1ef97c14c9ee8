"""How much does one split decide? Single heads against a cross-fitted ensemble, per split seed.

    .venv/bin/python bench/ensemble_bench.py ../shared/data [--seeds 0 1 2] [--members 5]

For each seed (which moves every photo's split, test included) both are trained on the
`train` photos and scored on their own test split and on the `dev-only` photos (bodies
never trained on, the same photos for every seed). The spread over seeds of the dev-only
figures is the instability; a build that is stable gives about the same figures whatever
the split. Features are cached under runs/starter/cache.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from photo_tagger.estimate import estimate  # noqa: E402
from photo_tagger.trainer.augment import IDENTITY  # noqa: E402
from photo_tagger.trainer.evaluate import body_means, model_figures, per_body  # noqa: E402
from photo_tagger.trainer.features import extract  # noqa: E402
from photo_tagger.trainer.harvest import harvest  # noqa: E402
from photo_tagger.trainer.heads import logits  # noqa: E402
from photo_tagger.trainer.starter import Predecessor, index_paths, prepare  # noqa: E402
from photo_tagger.trainer.train import TrainConfig, base_spec, default_extractor, fit  # noqa: E402

CACHE = Path("runs/starter/cache")
SHOWN = (("fnumber", "within_one_stop"), ("fnumber", "mape"), ("fnumber", "mse"), ("fnumber", "brier"),
         ("focal35", "within_20_percent"), ("focal35", "mape"), ("focal35", "brier"))


def scores(config: TrainConfig, train, dev, previous: Predecessor | None = None) -> dict:  # type: ignore[no-untyped-def]
    """previous: keep its test split, as the starter build does (starter.Predecessor)."""
    extractor = default_extractor(config, CACHE)
    data = prepare(train.photos, config, CACHE, train.partial, previous, extractor)
    fitted = fit(data, base_spec("bench", config), config)
    out = {}
    for name, rows in (("test", data.features.rows(data.test, identity_only=True)),
                       ("dev_only", extract(dev, [[IDENTITY]] * len(dev), fitted.spec, extractor, CACHE))):
        estimates = estimate(fitted.spec, logits(fitted.heads, rows), rows.aux)
        out[name] = model_figures(estimates, rows.fnumber, rows.focal35)
    # each dev-only body one case: a 37-photo series from one compact must not decide alone
    out["dev_only_body_means"] = body_means(per_body([p.body for p in dev], estimates, rows.fnumber, rows.focal35))
    out["spec"] = {k: getattr(fitted.spec, k) for k in ("combine", "temperature", "prior_weight", "confidence_shift")}
    out["routes"] = fitted.report["routes_validation"]  # each FNumber route on the calibration photos
    return out


def load(data_dir: Path):  # type: ignore[no-untyped-def]
    """The `train` photos (a Harvest, partial labels included) and the dev-only photos."""
    return harvest(index_paths(data_dir, "train")), harvest(index_paths(data_dir, "dev-only")).photos


def line(row: dict) -> str:
    """One run's SHOWN figures on its test split and on the dev-only photos."""
    return "  ".join(f"{split} " + " ".join(f"{row[split][t][k]:.3g}" for t, k in SHOWN)
                     for split in ("test", "dev_only"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    train, dev = load(args.data_dir)
    results: dict = {}
    for seed in args.seeds:
        for label, members in (("single", 1), (f"{args.members} members", args.members)):
            results[f"{label}, seed {seed}"] = scores(TrainConfig(seed=seed, members=members), train, dev)
            print(f"{label:>10} seed {seed}: " + line(results[f"{label}, seed {seed}"]), flush=True)
    print("columns per split: " + ", ".join(f"{t} {k}" for t, k in SHOWN))
    for label in ("single", f"{args.members} members"):
        runs = [results[f"{label}, seed {s}"]["dev_only"] for s in args.seeds]
        spread = {f"{t} {k}": (round(float(np.min([r[t][k] for r in runs])), 3), round(float(np.max([r[t][k] for r in runs])), 3))
                  for t, k in SHOWN}
        print(f"dev-only range over seeds, {label}: {spread}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
