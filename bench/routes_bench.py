"""Where do the two FNumber routes disagree? The shipped model's routes, body by body.

    .venv/bin/python bench/routes_bench.py [--model M.onnx] [--data ../shared/data] [--body NAME]

For the `dev-only` photos (bodies the starter model never saw), prints per body the true
FNumber and the median estimate of each route: depth of field from the pixels, exposure
(N^2 = t * 2^EV100 * ISO/100 with the EV100 the model reads), and the product the model
uses, with the body's median ISO. A body where the routes sit a stop apart is one where
the product, and the estimate, can tip between them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from photo_tagger.estimate import estimate  # noqa: E402
from photo_tagger.infer import Predictor  # noqa: E402
from photo_tagger.modelspec import AUX_FEATURES, COMBINE_MODES  # noqa: E402
from photo_tagger.registry import SHIPPED_MODEL  # noqa: E402
from photo_tagger.trainer.harvest import harvest  # noqa: E402
from photo_tagger.trainer.starter import index_paths  # noqa: E402
from photo_tagger.trainer.train import inference_inputs  # noqa: E402

_ISO = AUX_FEATURES.index("log2_iso_over_100")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / SHIPPED_MODEL)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--body", help="only this body's photos")
    args = parser.parse_args()
    photos = [p for p in harvest(index_paths(args.data, "dev-only")).photos if args.body in (None, p.body)]
    predictor = Predictor(args.model, "cpu")
    images, aux = inference_inputs(photos, predictor.spec)
    raw = predictor.raw(images, aux)
    routes = {mode: np.asarray([e.fnumber for e in estimate(predictor.spec, raw, aux, mode)]) for mode in COMBINE_MODES}
    bodies = sorted({p.body for p in photos}, key=lambda b: -sum(p.body == b for p in photos))
    print(f"{len(photos)} dev-only photos, model {predictor.spec.model_version} (uses {predictor.spec.combine})")
    print(f"{'body':44}{'n':>4}{'ISO':>6}{'true':>7}" + "".join(f"{m:>10}" for m in COMBINE_MODES))
    for body in bodies:
        rows = np.asarray([p.body == body for p in photos])
        true = np.median([p.fnumber for p, r in zip(photos, rows) if r])
        iso = 100 * 2 ** np.median(aux[rows, _ISO])
        print(f"{body[:43]:44}{rows.sum():>4}{iso:>6.0f}{true:>7.1f}"
              + "".join(f"{np.median(routes[m][rows]):>10.1f}" for m in COMBINE_MODES))


if __name__ == "__main__":
    main()
