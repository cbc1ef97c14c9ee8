"""Do the confidences' log-odds offsets generalise? Cross-validated on the calibration rows.

Run: .venv/bin/python bench/confidence_cv.py [--data ../shared/data] [--folds 5]
(needs the training extra; features come from runs/starter/cache, as the starter build's do)

The starter model's last calibration steps fit one log-odds offset per target on its
calibration rows (the nested out-of-fold ensemble predictions; ensemble.py), then one more
per sensor-size group (calibrate.fit_class_shift). This bench rebuilds those rows exactly as
`python -m photo_tagger.trainer.starter` does, keeps every earlier calibration step as
shipped, and cross-validates only the last ones: folds grouped by shot (copies of one photo
together); on each, the offset, the offset plus group offsets, and for comparison a Platt
scaling with a free slope are fitted on the other folds and scored on the held fold.
Printed: Brier, ECE, log loss and AUC of the pooled held-fold confidences, against the same
confidences unshifted, and the larger sensors' mean confidence, hit rate and Brier score.
The test split is never touched.
"""

from __future__ import annotations

import argparse
import random
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from photo_tagger.calibration import shift_confidence  # noqa: E402
from photo_tagger.trainer import calibrate as calib  # noqa: E402
from photo_tagger.trainer.evaluate import brier, ece, ranking  # noqa: E402
from photo_tagger.trainer.harvest import harvest  # noqa: E402
from photo_tagger.trainer.split import copy_key  # noqa: E402
from photo_tagger.trainer.starter import SHIPPED, VERSION, index_paths  # noqa: E402
from photo_tagger.trainer.train import base_spec, calibration_set, default_extractor, prepare_data  # noqa: E402

SLOPES = np.linspace(0.25, 2.5, 46)


def folds_by_shot(keys: list[tuple], folds: int, seed: int = 0) -> np.ndarray:
    """Each row's fold; all rows of one shot share one."""
    shots = sorted(set(keys), key=repr)
    random.Random(seed).shuffle(shots)
    fold_of = {shot: i % folds for i, shot in enumerate(shots)}
    return np.asarray([fold_of[k] for k in keys])


def platt(confidence: np.ndarray, hit: np.ndarray) -> tuple[float, float]:
    """Slope and offset on the confidence's log-odds with the lowest log loss (grid search)."""
    best = min(((a, b) for a in SLOPES for b in calib.SHIFTS),
               key=lambda ab: calib.log_loss(apply_platt(confidence, *ab), hit))
    return float(best[0]), float(best[1])


def apply_platt(confidence: np.ndarray, slope: float, offset: float) -> np.ndarray:
    p = np.clip(confidence, 1e-6, 1 - 1e-6)
    return 1 / (1 + np.exp(-(slope * np.log(p / (1 - p)) + offset)))


def group_shifted(confidence: np.ndarray, hit: np.ndarray, group: np.ndarray, fit: np.ndarray) -> np.ndarray:
    """All rows shifted by the offset fitted on `fit`, then by their group's (fit rows only)."""
    shifted = shift_confidence(confidence, calib.best_shift(confidence[fit], hit[fit]))
    offsets = calib.group_offsets(shifted, hit, np.where(fit, group, -1))
    return shift_confidence(shifted, np.asarray([offsets.get(g, 0.0) for g in group]))


def cross_validate(confidence: np.ndarray, hit: np.ndarray, fold: np.ndarray,
                   group: np.ndarray) -> dict[str, np.ndarray]:
    """Held-fold confidences: unshifted, shifted as calibrate.py does with and without the
    sensor-size groups' offsets, and Platt-scaled."""
    out = {"unshifted": confidence.copy(), "shift": np.empty_like(confidence),
           "shift+group": np.empty_like(confidence), "platt": np.empty_like(confidence)}
    for k in np.unique(fold):
        fit, held = fold != k, fold == k
        out["shift"][held] = shift_confidence(confidence[held], calib.best_shift(confidence[fit], hit[fit]))
        out["shift+group"][held] = group_shifted(confidence, hit, group, fit)[held]
        out["platt"][held] = apply_platt(confidence[held], *platt(confidence[fit], hit[fit]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--cache", type=Path, default=Path("runs/starter/cache"))
    args = parser.parse_args()
    found = harvest(index_paths(args.data, "train"))
    config = SHIPPED
    data = prepare_data(found.photos, config, default_extractor(config, args.cache), args.cache,
                        partial=found.partial)
    _, _, cal = calibration_set(data, base_spec(VERSION, config), config)
    rows = cal.rows
    spec, _ = calib.calibrate(cal.base, cal.outputs, rows.aux, rows.fnumber, rows.focal35, rows.ev100, cal.priors,
                              class_targets=config.class_shift)
    events = calib.confidence_events(replace(spec, confidence_shift={}, class_shift={}), cal.outputs, rows.aux,
                                     rows.fnumber, rows.focal35, cal.priors)
    fold = folds_by_shot([copy_key(data.photos[i]) for i in rows.photo], args.folds)
    group = calib.row_groups(spec, rows.aux)
    larger = group == 1
    print(f"calibration rows: {len(fold)} ({len(set(fold.tolist()))} folds by shot, {larger.sum()} larger sensors); "
          f"fitted offsets {spec.confidence_shift}, per sensor-size class {spec.class_shift}")
    print(f"{'target':10}{'variant':12}{'mean conf':>10}{'hit rate':>10}{'Brier':>8}{'ECE':>8}{'log loss':>10}{'AUC':>7}"
          f"   larger sensors: conf, hits, Brier")
    for target, (confidence, hit) in events.items():
        for variant, held in cross_validate(confidence, hit, fold, group).items():
            print(f"{target:10}{variant:12}{held.mean():>10.3f}{hit.mean():>10.3f}{brier(held, hit):>8.3f}"
                  f"{ece(held, hit):>8.3f}{calib.log_loss(held, hit):>10.3f}{ranking(held, hit):>7.3f}"
                  f"   {held[larger].mean():.3f} {hit[larger].mean():.3f} {brier(held[larger], hit[larger]):.3f}")


if __name__ == "__main__":
    main()
