"""Two or more model files on the same photos: the held-out test photos and the dev-only ones.

    .venv/bin/python bench/model_compare.py ../shared/data models/phototag-starter.onnx OTHER.onnx [--per-body]

The test photos are the `train` photos none of the files learned from (each file names the
shots it learned from); the dev-only photos come from bodies no shipped model trained on.
Besides the card's figures it prints what `scan --write-exif` would write at its default
minimum confidence (0.5): how many estimates pass, and how many of those are right (FNumber
within one stop, focal length within 20%), the figure a user's files see, and focal length per
sensor size. 18 seconds for two files on two cores, harvesting included.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from photo_tagger.infer import Predictor  # noqa: E402
from photo_tagger.tolerance import ONE_STOP, WITHIN_20_PERCENT  # noqa: E402
from photo_tagger.trainer.evaluate import body_means  # noqa: E402
from photo_tagger.trainer.export import seen_shots  # noqa: E402
from photo_tagger.trainer.harvest import harvest  # noqa: E402
from photo_tagger.trainer.split import shot_id  # noqa: E402
from photo_tagger.trainer.starter import index_paths  # noqa: E402
from photo_tagger.trainer.train import evaluate_file  # noqa: E402
from photo_tagger.writeback import DEFAULT_MIN_CONFIDENCE  # noqa: E402

SHOWN = (("fnumber", "within_one_stop"), ("fnumber", "mape"), ("fnumber", "brier"), ("fnumber", "auc"),
         ("fnumber", "ece"), ("focal35", "within_20_percent"), ("focal35", "mape"), ("focal35", "brier"),
         ("focal35", "auc"), ("focal35", "ece"))


def written(result: dict, photos: list, threshold: float = DEFAULT_MIN_CONFIDENCE) -> str:
    """What --write-exif would write at this threshold, and how much of it is right."""
    f_est, f_conf, l_est, l_conf = result["predictions"]
    f_true = np.asarray([p.fnumber for p in photos])
    l_true = np.asarray([p.focal35 for p in photos])
    f_go, l_go = f_conf >= threshold, l_conf >= threshold
    f_hit, l_hit = ONE_STOP.hits(f_est, f_true), WITHIN_20_PERCENT.hits(l_est, l_true)
    return (f"written at {threshold}: FNumber {int(f_go.sum())} ({int((f_go & f_hit).sum())} within a stop), "
            f"focal {int(l_go.sum())} ({int((l_go & l_hit).sum())} within 20%)")


def by_sensor(result: dict, photos: list, small: float) -> str:
    """Focal length per sensor-size group (the model's last prior bound: phones and compacts
    from that crop factor up): the median estimate, the mean confidence, the share within 20%."""
    _, _, l_est, l_conf = result["predictions"]
    l_hit = WITHIN_20_PERCENT.hits(l_est, np.asarray([p.focal35 for p in photos]))
    crop = np.asarray([p.crop for p in photos])
    parts = []
    for label, chosen in (("larger sensors", crop < small), ("phones and compacts", crop >= small)):
        if chosen.any():
            parts.append(f"{label} ({int(chosen.sum())}): median {np.median(l_est[chosen]):.1f} mm, "
                         f"confidence {l_conf[chosen].mean():.2f}, within 20% {l_hit[chosen].mean():.2f}")
    return "focal by sensor: " + "; ".join(parts)


def report(name: str, model: Path, photos: list, learned: list, bodies: bool = False,
           thresholds: tuple[float, ...] = ()) -> None:
    result = evaluate_file(model, photos, learned)
    figures = " ".join(f"{t[:5]} {k} {result['model'][t][k]:.3g}" for t, k in SHOWN)
    print(f"  {model.name} [{name}, n={len(photos)}]: {figures}")
    print(f"    {written(result, photos)}; per body {body_means(result['per_body'])}")
    for threshold in thresholds:
        print(f"    {written(result, photos, threshold)}")
    small = Predictor(model, "cpu").spec.prior["crop_bounds"][-1]
    print(f"    {by_sensor(result, photos, small)}", flush=True)
    for body, row in sorted(result["per_body"].items()) if bodies else ():
        print(f"      {body}: n {row['n']}, FNumber within one stop {row['fnumber_within_one_stop']:.2f}, "
              f"focal within 20% {row['focal35_within_20_percent']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("models", type=Path, nargs="+")
    parser.add_argument("--per-body", action="store_true", help="also each body's hit rates")
    parser.add_argument("--thresholds", type=float, nargs="*", default=(),
                        help="also what --write-exif would write at these minimum confidences")
    args = parser.parse_args()
    train = harvest(index_paths(args.data_dir, "train")).photos
    dev = harvest(index_paths(args.data_dir, "dev-only")).photos
    seen = [seen_shots(m) for m in args.models]
    test = [p for p in train if not any(shot_id(p) in s for s in seen)]
    for model, learned_shots in zip(args.models, seen):
        learned = [p for p in train if shot_id(p) in learned_shots]
        report("test", model, test, learned, args.per_body, tuple(args.thresholds))
        report("dev-only", model, dev, learned, args.per_body, tuple(args.thresholds))


if __name__ == "__main__":
    main()
