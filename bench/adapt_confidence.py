"""How honest are an adapted model's confidences on its held-out photos?

    PHOTOTAG_HOME=/tmp/somewhere .venv/bin/python bench/adapt_confidence.py LIBRARY [--finetune]

Runs `phototag train`'s self-calibration on LIBRARY (installing nothing outside the state
folder PHOTOTAG_HOME names: use a throw-away one) and prints, for the adapted and the current
model on the same held-out photos, each target's hit rate against its mean confidence, the
Brier score and the calibration error, then the confidence offsets calibration fitted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from photo_tagger.trainer.selfcal import SelfCalOptions, find_photos, self_calibrate  # noqa: E402


def line(name: str, figures: dict) -> str:
    f, l = figures["fnumber"], figures["focal35"]
    return (f"{name:>8} n {figures.get('n')}: FNumber within a stop {f['within_one_stop']:.3f}, mean confidence "
            f"{f['mean_confidence']:.3f}, Brier {f['brier']:.3f}, ECE {f['ece']:.3f} | focal within 20% "
            f"{l['within_20_percent']:.3f}, mean confidence {l['mean_confidence']:.3f}, Brier {l['brier']:.3f}, ECE {l['ece']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("library", type=Path)
    parser.add_argument("--finetune", action="store_true")
    args = parser.parse_args()
    options = SelfCalOptions((str(args.library),), finetune=args.finetune)
    with tempfile.TemporaryDirectory() as scratch:
        result = self_calibrate(options, find_photos(options), scratch=Path(scratch))
    info = result.info
    print(line("adapted", info["test"]))
    print(line("current", info["base_model_test"]))
    report = info["validation"]
    print(f"offsets {report['confidence_shift']}, per sensor size {report.get('class_shift')}, "
          f"on {report.get('calibration_photos')} calibration rows; installed: {result.installed}")


if __name__ == "__main__":
    main()
