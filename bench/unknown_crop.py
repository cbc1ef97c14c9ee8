"""How a model does when the body's crop factor is unknown (film scans, bodies lensfun lacks).

Run: .venv/bin/python bench/unknown_crop.py [--model M.onnx ...] [--data ../shared/data]

On the labeled 'dev-only' photos of ../shared/data (bodies the shipped model never trained
on), each photo goes through the scan's inputs twice from the same pixels: once with its
body's crop factor, once with the crop factor marked unknown, as scan feeds a photo whose
body it cannot resolve. Printed per model: FNumber within one stop, MAPE and mean
confidence for both. A model whose training never saw an unknown crop factor has never
learned what "unknown" means, and its FNumber estimates for such photos drift.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from photo_tagger.tolerance import ONE_STOP  # noqa: E402
from photo_tagger.infer import Predictor  # noqa: E402
from photo_tagger.modelspec import AUX_FEATURES  # noqa: E402
from photo_tagger.registry import SHIPPED_MODEL  # noqa: E402
from photo_tagger.trainer.harvest import harvest  # noqa: E402
from photo_tagger.trainer.starter import index_paths  # noqa: E402
from photo_tagger.trainer.train import inference_inputs  # noqa: E402

CROP = AUX_FEATURES.index("log2_crop_factor")
HAS_CROP = AUX_FEATURES.index("has_crop_factor")


def figures(predictor: Predictor, images: np.ndarray, aux: np.ndarray, truth: np.ndarray) -> str:
    est = predictor.predict(images, aux)  # on the CPU it runs the photos a few at a time itself
    f = np.asarray([e.fnumber for e in est])
    conf = np.mean([e.fnumber_confidence for e in est])
    return (f"within one stop {ONE_STOP.hits(f, truth).mean():.2f}, MAPE {np.mean(np.abs(f - truth) / truth) * 100:.1f}%, "
            f"mean confidence {conf:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, action="append")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    photos = harvest(index_paths(args.data, "dev-only")).photos
    truth = np.asarray([p.fnumber for p in photos])
    print(f"{len(photos)} dev-only photos with a known crop factor")
    for model in args.model or [ROOT / "models" / SHIPPED_MODEL]:
        predictor = Predictor(model, "cpu")
        images, aux = inference_inputs(photos, predictor.spec)
        unknown = aux.copy()
        unknown[:, CROP] = 0.0
        unknown[:, HAS_CROP] = 0.0
        print(f"{model.name}:")
        print(f"  crop factor known:   {figures(predictor, images, aux, truth)}")
        print(f"  crop factor unknown: {figures(predictor, images, unknown, truth)}")


if __name__ == "__main__":
    main()
