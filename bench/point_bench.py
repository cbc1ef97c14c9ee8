"""Which point rule should read each target's estimate off its distribution?

    .venv/bin/python bench/point_bench.py ../shared/data [--seeds 0 1 2]

For each split seed, the 5-member ensemble is built once (its heads and honest calibration
predictions cached under runs/bench/points) and then calibrated with each set of allowed
point rules (calibrate.POINT_CHOICES). Figures on the test split and on the dev-only photos
(bodies never trained on), each beside the training-median baseline on the same photos.
The heads are the same in every row of one seed: only the reading of the estimate moves.
The label prior is pooled as the shipped configuration pools it (TrainConfig.prior_pool).
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ensemble_bench import CACHE, load  # noqa: E402

from photo_tagger.estimate import estimate  # noqa: E402
from photo_tagger.modelspec import ModelSpec  # noqa: E402
from photo_tagger.trainer import calibrate as calib  # noqa: E402
from photo_tagger.trainer.augment import IDENTITY  # noqa: E402
from photo_tagger.trainer.evaluate import baseline_figures, model_figures  # noqa: E402
from photo_tagger.trainer.features import extract  # noqa: E402
from photo_tagger.trainer.heads import logits  # noqa: E402
from photo_tagger.trainer.train import TrainConfig, base_spec, calibration_set, default_extractor, prepare_data  # noqa: E402

STORE = Path("runs/bench/points")
VARIANTS = {
    "focal: mode only": {"fnumber": ("mode", "median", "mape"), "focal35": ("mode",)},
    "every rule": calib.POINT_CHOICES,
}
SHIPPED_POOL = TrainConfig().prior_pool
SHOWN = (("fnumber", "within_one_stop"), ("fnumber", "mape"), ("fnumber", "mse"), ("fnumber", "ece"),
         ("focal35", "within_20_percent"), ("focal35", "mape"), ("focal35", "mae"), ("focal35", "msle"),
         ("focal35", "mse"), ("focal35", "ece"))


def built(seed: int, data_dir: Path) -> dict:
    """The seed's ensemble outputs: calibration set, test and dev-only rows (cached)."""
    path = STORE / f"seed{seed}.pkl"
    if path.exists():
        out = pickle.loads(path.read_bytes())
        # a cache pickled before a spec field existed lacks it: re-read it with today's defaults
        out["cal"] = replace(out["cal"], base=ModelSpec.from_json(json.dumps(vars(out["cal"].base))))
        return out
    train, dev = load(data_dir)
    config = TrainConfig(seed=seed, members=5)
    extractor = default_extractor(config, CACHE)
    data = prepare_data(train.photos, config, extractor, CACHE, partial=train.partial)
    heads, _, cal = calibration_set(data, base_spec("bench", config), config)
    test = data.features.rows(data.test, identity_only=True)
    dev_rows = extract(dev, [[IDENTITY]] * len(dev), cal.base, extractor, CACHE)
    labels = data.features.rows(sorted(data.train + data.val), identity_only=True)
    out = {"cal": cal, "test": (logits(heads, test), test), "dev": (logits(heads, dev_rows), dev_rows),
           "train_f": labels.fnumber, "train_l": labels.focal35}
    STORE.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(out))
    return out


def rows_for(d: dict, choices: dict, pool: dict[str, str] = SHIPPED_POOL) -> dict:
    """Per split, (model figures, baseline figures) after calibrating with these point-rule
    choices and label-prior pooling; also the chosen rules and the dev-only estimates."""
    cal, r = d["cal"], d["cal"].rows
    base = replace(cal.base, prior_pool=dict(pool))  # the heads and priors do not depend on it
    spec, _ = calib.calibrate(base, cal.outputs, r.aux, r.fnumber, r.focal35, r.ev100, cal.priors, choices)
    out: dict = {}
    for name, (outputs, rows), priors in (("calibration", (cal.outputs, r), cal.priors), ("test", d["test"], None),
                                          ("dev_only", d["dev"], None)):
        estimates = estimate(spec, outputs, rows.aux, priors=priors)
        model = model_figures(estimates, rows.fnumber, rows.focal35)
        out[name] = (model, baseline_figures(d["train_f"], d["train_l"], rows.fnumber, rows.focal35))
    out["point"], out["prior_weight"], out["dev_estimates"] = spec.point, spec.prior_weight, estimates
    return out


def seed_args(doc: str | None) -> argparse.Namespace:
    """DATA_DIR and --seeds: what every bench on these cached ensembles takes."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    return parser.parse_args()


def dev_bodies(data_dir: Path) -> list[str]:
    """The dev-only photos' bodies, in the order of their rows in built()'s results."""
    return [p.body for p in load(data_dir)[1]]


def main() -> None:
    args = seed_args(__doc__)
    print("columns: " + ", ".join(f"{t} {k}" for t, k in SHOWN))
    for seed in args.seeds:
        d = built(seed, args.data_dir)
        for label, choices in VARIANTS.items():
            result = rows_for(d, choices)
            print(f"seed {seed}, {label}: chose {result['point']}")
            for split in ("calibration", "test", "dev_only"):
                model, base = result[split]
                print(f"  {split:>11} model    " + " ".join(f"{model[t][k]:8.3g}" for t, k in SHOWN))
                print(f"  {split:>11} baseline " + " ".join(f"{base[t][k]:8.3g}" for t, k in SHOWN), flush=True)


if __name__ == "__main__":
    main()
