"""How much the model's distribution and the habit prior should weigh beside the library's
evidence (docs/decisions.md), re-weighed offline on the databases bench/portfolio_bench.py
kept: .venv/bin/python bench/library_weights.py WORK_DIR [--data ../shared/data]
(WORK_DIR: the folder given to portfolio_bench.py --keep). Also tries a third term, the
body's distribution of scene EV100, with two bandwidths and pseudo-counts.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import photo_tagger.library as L  # noqa: E402
from photo_tagger.estimate import point_and_confidence  # noqa: E402
from photo_tagger.store import Store  # noqa: E402
from photo_tagger.tolerance import ONE_STOP  # noqa: E402
from portfolio_bench import truths  # noqa: E402

BINS = np.asarray([round(2 ** (k / 6), 4) for k in range(31)])


def ev_habit(row: dict, library: L.Library, bandwidth: float, pseudo: float) -> np.ndarray:
    body = library.bodies.get(L.body_name(row["camera_make"], row["camera_model"]))
    if body is None or row["exif_flash_fired"]:
        return np.ones(len(BINS))
    evs = body.ev[~body.flash]
    ev = L.scene_ev(BINS, row["exif_exposure_time"], row["exif_iso"], row["exif_exposure_bias"],
                    row["exif_exposure_program"])
    kernel = np.exp(-0.5 * ((ev[:, None] - evs[None, :]) / bandwidth) ** 2).sum(1) / bandwidth
    return (kernel + pseudo * 0.02) / (len(evs) + pseudo)


def score(data: list, truth: dict, ev_term: tuple[float, float] | None = None) -> str:
    hits, confs, near = [], [], []
    for labeled, rows in data:
        library = L.Library.from_rows(labeled)
        for row in rows:
            key = (Path(row["path"]).parent.name, Path(row["path"]).name)
            evidence = library.evidence(row)
            model = L.decode_probs(row["model_fnumber_probs"])
            post = model if evidence.empty else L.posterior(BINS, model, row, evidence)
            if ev_term:
                post = post * ev_habit(row, library, *ev_term)
                post = post / post.sum()
            value, mass = point_and_confidence(post[None, :], BINS, ONE_STOP)
            hits.append(bool(ONE_STOP.hits(value[0], truth[key].fnumber)))
            confs.append(mass[0])
            near.append(evidence.ev_mean is not None and (evidence.nearest_gap_s or 0) <= 900)
    h, c, n = np.asarray(hits), np.asarray(confs), np.asarray(near)
    return (f"within one stop {h.mean():.3f}, confidence {c.mean():.3f}, neighbours {h[n].mean():.3f} "
            f"({n.sum()}), at 0.8: {(c >= 0.8).sum()} written, {h[c >= 0.8].mean() if (c >= 0.8).any() else 0:.2f} right")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("work", type=Path)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    truth = truths(args.data.resolve() / "portfolio")
    data = []
    for db in sorted(args.work.glob("home-library-*/phototag.db")):
        with Store(db) as store:
            data.append((list(store.labeled_exposures()), list(store.refinable())))
    for weight in (0.5, 0.25, 0.1, 0.0):
        for pseudo in (3.0, 6.0, 12.0):
            L.MODEL_WEIGHT, L.HABIT_PSEUDO_COUNT = weight, pseudo
            print(f"model weight {weight}, habit pseudo-count {pseudo}: {score(data, truth)}")
    L.MODEL_WEIGHT, L.HABIT_PSEUDO_COUNT = 0.25, 6.0
    for bandwidth in (1.0, 2.0, 3.0):
        for pseudo in (3.0, 10.0):
            print(f"+ EV habit, bandwidth {bandwidth} EV, pseudo-count {pseudo}: "
                  f"{score(data, truth, (bandwidth, pseudo))}")


if __name__ == "__main__":
    main()
