"""Which point rule should read each target's estimate off its distribution?

    .venv/bin/python bench/point_bench.py ../shared/data [--seeds 0 1 2]

For each split seed, the 5-member ensemble is built once (its heads and honest calibration
predictions cached under runs/bench/points) and then calibrated with each set of allowed
point rules (calibrate.POINT_CHOICES). Figures on the test split and on the dev-only photos
(bodies never trained on), each beside the training-median baseline on the same photos.
The heads are the same in every row of one seed: only the reading of the estimate moves.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ensemble_bench import CACHE, load  # noqa: E402

from photo_tagger.estimate import estimate  # noqa: E402
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
SHOWN = (("fnumber", "within_one_stop"), ("fnumber", "mape"), ("fnumber", "mse"), ("fnumber", "ece"),
         ("focal35", "within_20_percent"), ("focal35", "mape"), ("focal35", "mae"), ("focal35", "msle"),
         ("focal35", "mse"), ("focal35", "ece"))


def built(seed: int, data_dir: Path) -> dict:
    """The seed's ensemble outputs: calibration set, test and dev-only rows (cached)."""
    path = STORE / f"seed{seed}.pkl"
    if path.exists():
        return pickle.loads(path.read_bytes())
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


def rows_for(d: dict, choices: dict) -> dict[str, tuple[dict, dict]]:
    """Per split, (model figures, baseline figures) after calibrating with these choices."""
    cal, r = d["cal"], d["cal"].rows
    spec, _ = calib.calibrate(cal.base, cal.outputs, r.aux, r.fnumber, r.focal35, r.ev100, cal.priors, choices)
    out = {}
    for name, (outputs, rows), priors in (("calibration", (cal.outputs, r), cal.priors), ("test", d["test"], None),
                                          ("dev_only", d["dev"], None)):
        model = model_figures(estimate(spec, outputs, rows.aux, priors=priors), rows.fnumber, rows.focal35)
        out[name] = (model, baseline_figures(d["train_f"], d["train_l"], rows.fnumber, rows.focal35))
    out["point"] = spec.point  # type: ignore[assignment]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
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
