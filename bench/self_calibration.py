"""Self-calibration, demonstrated honestly on one body's photos from ../shared/data.

Takes the body with the most distinct labeled shots (copies of one shot count once) among
those the shipped model never trained on, lets `self_calibrate` split them (train /
validation / held-out test, by photo), adapt the shipped model's heads, and prints the
shipped model's and the adapted model's figures on the SAME held-out photos.
Nothing is installed: PHOTOTAG_HOME points at a temporary folder.

    .venv/bin/python bench/self_calibration.py ../shared/data [--use all|train] [--each-shot]

A body with few distinct shots leaves one split one shot to test on: one case. With
--each-shot every shot is held out in turn instead (leave one shot out): the model is
adapted to the body's other shots, and the shipped and the adapted model are scored on the
held-out shot; the figures pool every shot, each predicted by a model that never saw it,
and the interval resamples shots.

With --use all (default) the dev-only photos join, and the body is one of theirs that no
`train` photo shows (a development measurement: nothing shipped is trained on them). With
--use train only `train` photos are used, so the body is one the shipped model saw.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data_dir", type=Path, nargs="?", default=Path("../shared/data"))
    parser.add_argument("--use", choices=["train", "all"], default="all")
    parser.add_argument("--each-shot", action="store_true", help="hold out each shot in turn")
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="phototag-bench-"))
    os.environ["PHOTOTAG_HOME"] = str(home)
    from photo_tagger.registry import SHIPPED_MODEL, shipped_models
    from photo_tagger.trainer.harvest import harvest
    from photo_tagger.trainer.selfcal import SelfCalOptions, self_calibrate
    from photo_tagger.trainer.split import copy_key
    from photo_tagger.trainer.starter import index_paths

    paths = index_paths(args.data_dir, "train")
    shipped_saw = {str(Path(p).resolve()) for p in paths}
    if args.use == "all":
        paths += index_paths(args.data_dir, "dev-only")
    found = harvest(paths)
    seen = {p.body for p in [*found.photos, *found.partial] if str(Path(p.path).resolve()) in shipped_saw}
    # a body the shipped model never trained on, as a user's own camera would be
    candidates = [b for b in found.per_body() if b != "unknown body" and (b not in seen or args.use == "train")]
    body = max(candidates, key=lambda b: len({copy_key(p) for p in found.photos if p.body == b}))
    found.photos = [p for p in found.photos if p.body == body]
    found.partial = [p for p in found.partial if p.body == body]  # one body means one body
    shots = len({copy_key(p) for p in found.photos})
    print(f"body: {body} ({len(found.photos)} labeled photos, {shots} distinct shots)")
    base = next(m.path for m in shipped_models() if m.path.name == SHIPPED_MODEL)
    if args.each_shot:
        each_shot(found, tuple(paths), base, home)
        shutil.rmtree(home, ignore_errors=True)
        return
    result = self_calibrate(SelfCalOptions(tuple(paths), min_photos=10, base_model=base), found)
    print(f"split: {result.split_sizes}, held-out shots: {result.adapted['shots']}")
    print(f"{'figure (held-out test)':32}{'shipped':>10}{'self-cal':>10}{'median':>10}   self-cal - shipped, 95%")
    for target, key in (("fnumber", "within_one_stop"), ("fnumber", "within_third_stop"),
                        ("fnumber", "mape"), ("fnumber", "ece"), ("focal35", "within_20_percent"),
                        ("focal35", "mape"), ("focal35", "ece")):
        values = (result.current["model"], result.adapted["model"], result.adapted["baseline"])
        gain = result.gain_95.get(target, {}).get(key)
        print(f"{target + ' ' + key:32}" + "".join(f"{v[target][key]:>10.3f}" for v in values)
              + (f"   {gain[0]:+.3f} to {gain[1]:+.3f}" if gain else "   (no interval)"))
    print("would install" if result.installed else "would keep the shipped model")
    shutil.rmtree(home, ignore_errors=True)


def each_shot(found, paths: tuple[str, ...], base: Path, home: Path) -> None:  # type: ignore[no-untyped-def]
    """Leave one shot out in turn; print per-shot and pooled figures of both models."""
    from dataclasses import replace

    import numpy as np

    from photo_tagger.trainer.evaluate import difference_intervals, figures
    from photo_tagger.trainer.selfcal import SelfCalOptions, self_calibrate
    from photo_tagger.trainer.split import copy_key
    from photo_tagger.trainer.train import evaluate_file, truths

    shots: dict = {}
    for photo in found.photos:
        shots.setdefault(copy_key(photo), []).append(photo)
    pooled: dict[str, list] = {"shipped": [], "adapted": []}
    held, names = [], []
    for k, photos in enumerate(shots.values()):
        out = {p.path for p in photos}
        rest = replace(found, photos=[p for p in found.photos if p.path not in out])
        scratch = home / f"shot-{k}"
        self_calibrate(SelfCalOptions(paths, min_photos=5, base_model=base), rest, scratch=scratch)
        for name, model in (("shipped", base), ("adapted", scratch / "candidate.onnx")):
            pooled[name].append(evaluate_file(model, photos, rest.photos)["predictions"])
        held += photos
        names += [k] * len(photos)
        f, l = photos[0].fnumber, photos[0].focal35
        print(f"shot {k}: {len(photos)} photos at f/{f:g}, {l:.0f} mm eq.; FNumber median estimate shipped "
              f"{np.median(pooled['shipped'][-1][0]):.2f}, adapted {np.median(pooled['adapted'][-1][0]):.2f}; "
              f"focal {np.median(pooled['shipped'][-1][2]):.1f}, {np.median(pooled['adapted'][-1][2]):.1f}")
    f_true, l_true = truths(held)
    joined = {name: tuple(np.concatenate([p[i] for p in parts]) for i in range(4)) for name, parts in pooled.items()}
    scores = {name: figures(*preds, f_true, l_true) for name, preds in joined.items()}
    gain = difference_intervals(joined["adapted"], joined["shipped"], f_true, l_true, names)
    print(f"all {len(held)} photos, each predicted by a model that never saw its shot ({len(shots)} shots)")
    print(f"{'figure':32}{'shipped':>10}{'self-cal':>10}   self-cal - shipped, 95% (resampling shots)")
    for target, key in (("fnumber", "within_one_stop"), ("fnumber", "mape"), ("fnumber", "brier"),
                        ("focal35", "within_20_percent"), ("focal35", "mape"), ("focal35", "brier")):
        pair = gain.get(target, {}).get(key)
        print(f"{target + ' ' + key:32}" + "".join(f"{scores[n][target][key]:>10.3f}" for n in ("shipped", "adapted"))
              + (f"   {pair[0]:+.3f} to {pair[1]:+.3f}" if pair else "   (no interval)"))


if __name__ == "__main__":
    main()
