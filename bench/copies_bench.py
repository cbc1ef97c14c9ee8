"""Do re-saved and resized copies fool the model? Estimates on copies against the originals.

Run: .venv/bin/python bench/copies_bench.py [--model M.onnx] [--data ../shared/data] [--photos dev-only|test]

Libraries are full of exports: the same shot re-saved at a lower JPEG quality, or shrunk
for the web. Each photo of the held-out set is copied in memory the way an export would
(its EXIF kept, so orientation and the body's records are the same), the copy goes through
the scan's own preprocessing (`prepare`) and the model, and its estimates are compared
with the original's. `dev-only` (default) is the photos from bodies the starter model never
saw; `test` is the model's own held-out split: the `train` photos its file does not name as
learned from (split.shot_id).

Printed per kind of copy: the FNumber and focal-length figures on the copies next to the
originals', the median change of the estimate (stops; percent), and the share of photos
whose estimate moved by more than a third of a stop (FNumber) or 10% (focal length), over
all photos and (columns "if written") over those whose original estimate is confident
enough for `--write-exif` to write it (DEFAULT_MIN_CONFIDENCE): which estimates move?
"""

from __future__ import annotations

import argparse
import io
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from photo_tagger.infer import Predictor  # noqa: E402
from photo_tagger.preprocess import prepare  # noqa: E402
from photo_tagger.registry import SHIPPED_MODEL  # noqa: E402
from photo_tagger.tolerance import ONE_STOP, WITHIN_20_PERCENT  # noqa: E402
from photo_tagger.trainer.evaluate import Predictions, predictions  # noqa: E402
from photo_tagger.trainer.export import seen_shots  # noqa: E402
from photo_tagger.trainer.harvest import LabeledPhoto, harvest  # noqa: E402
from photo_tagger.trainer.split import shot_id, split  # noqa: E402
from photo_tagger.trainer.starter import SHIPPED, index_paths  # noqa: E402
from photo_tagger.trainer.train import truths  # noqa: E402
from photo_tagger.writeback import DEFAULT_MIN_CONFIDENCE  # noqa: E402

Copier = Callable[[bytes], bytes]


def export(long_side: int | None, quality: int) -> Copier:
    """A copy as an editor's export makes it: shrunk to long_side (never enlarged), EXIF kept."""
    def copy(data: bytes) -> bytes:
        image = Image.open(io.BytesIO(data))
        exif = image.info.get("exif")
        image = image.convert("RGB")
        if long_side and max(image.size) > long_side:
            scale = long_side / max(image.size)
            image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        image.save(out, "JPEG", quality=quality, **({"exif": exif} if exif else {}))
        return out.getvalue()
    return copy


COPIES: dict[str, Copier] = {
    "re-saved, JPEG quality 50": export(None, 50),
    "2048 px, quality 85": export(2048, 85),
    "1024 px, quality 75": export(1024, 75),
    "480 px, quality 70": export(480, 70),
}


def held_out(data: Path, which: str, model: Path) -> list[LabeledPhoto]:
    """dev-only photos, or the `train` photos the model never learned from: those its file
    does not name (a model that names none: the split this code's starter build makes)."""
    if which == "dev-only":
        return harvest(index_paths(data, "dev-only")).photos
    photos = harvest(index_paths(data, "train")).photos
    seen = seen_shots(model)
    if seen:
        return [p for p in photos if shot_id(p) not in seen]
    return [photos[i] for i in split(photos, SHIPPED.fractions, SHIPPED.seed)[2]]


def run(predictor: Predictor, photos: list[LabeledPhoto], copier: Copier | None) -> Predictions:
    """FNumber, its confidence, focal35, its confidence for each photo (or its copy)."""
    images = []
    for photo in photos:
        data = Path(photo.path).read_bytes()
        images.append(prepare(copier(data) if copier else data, predictor.spec))
    aux = np.stack([p.aux for p in photos]).astype(np.float32)  # the body's records: a copy keeps them
    return predictions(predictor.predict(np.stack(images), aux))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / SHIPPED_MODEL)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--photos", choices=["dev-only", "test"], default="dev-only")
    args = parser.parse_args()
    photos = held_out(args.data, args.photos, args.model)
    predictor = Predictor(args.model, "cpu")
    f_true, l_true = truths(photos)
    base = run(predictor, photos, None)
    print(f"{len(photos)} {args.photos} photos, model {predictor.spec.model_version}")
    sure_f, sure_l = base[1] >= DEFAULT_MIN_CONFIDENCE, base[3] >= DEFAULT_MIN_CONFIDENCE
    print(f"written at --min-confidence {DEFAULT_MIN_CONFIDENCE}: FNumber {sure_f.sum()}, focal {sure_l.sum()} photos")
    print(f"{'copy':28}{'F 1 stop':>9}{'F conf':>8}{'F moved':>9}{'>1/3 st':>9}{'if written':>11}"
          f"{'L 20%':>7}{'L conf':>8}{'L moved':>9}{'>10%':>7}{'if written':>11}")
    movers: dict[str, Counter] = {}
    for label, copier in {"original": None, **COPIES}.items():
        f, fc, l, lc = base if copier is None else run(predictor, photos, copier)
        f_moved = np.abs(np.log2(f / base[0])) * 2  # stops
        l_moved = np.abs(l / base[2] - 1) * 100
        print(f"{label:28}{ONE_STOP.hits(f, f_true).mean():>9.2f}{fc.mean():>8.2f}{np.median(f_moved):>9.2f}"
              f"{(f_moved > 1 / 3 + 1e-9).mean():>9.2f}{_share(f_moved > 1 / 3 + 1e-9, sure_f):>11}"
              f"{WITHIN_20_PERCENT.hits(l, l_true).mean():>7.2f}"
              f"{lc.mean():>8.2f}{np.median(l_moved):>8.1f}%{(l_moved > 10).mean():>7.2f}{_share(l_moved > 10, sure_l):>11}")
        movers[label] = Counter(photos[i].body for i in np.flatnonzero(f_moved > 1 / 3 + 1e-9))
    print("bodies whose FNumber moved more than 1/3 stop:")
    for label, bodies in movers.items():
        if bodies:
            print(f"  {label}: " + ", ".join(f"{b} ({n})" for b, n in bodies.most_common()))


def _share(moved: np.ndarray, among: np.ndarray) -> str:
    return f"{moved[among].mean():.2f}" if among.any() else "-"


if __name__ == "__main__":
    main()
