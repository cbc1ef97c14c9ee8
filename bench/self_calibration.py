"""Self-calibration, demonstrated honestly on one body's photos from ../shared/data.

Takes the body with the most distinct labeled shots (copies of one shot count once) among
those the shipped model never trained on, lets `self_calibrate` split them (train /
validation / held-out test, by photo), adapt the shipped model's heads, and prints the
shipped model's and the adapted model's figures on the SAME held-out photos.
Nothing is installed: PHOTOTAG_HOME points at a temporary folder.

    .venv/bin/python bench/self_calibration.py ../shared/data [--use all|train]

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
    result = self_calibrate(SelfCalOptions(tuple(paths), min_photos=10, base_model=base), found)
    print(f"split: {result.split_sizes}")
    print(f"{'figure (held-out test)':32}{'shipped':>10}{'self-cal':>10}{'median':>10}   self-cal - shipped, 95%")
    for target, key in (("fnumber", "within_one_stop"), ("fnumber", "within_third_stop"),
                        ("fnumber", "mape"), ("fnumber", "ece"), ("focal35", "within_20_percent"),
                        ("focal35", "mape"), ("focal35", "ece")):
        values = (result.current["model"], result.adapted["model"], result.adapted["baseline"])
        gain = result.gain_95.get(target, {}).get(key)
        print(f"{target + ' ' + key:32}" + "".join(f"{v[target][key]:>10.3f}" for v in values)
              + (f"   {gain[0]:+.3f} to {gain[1]:+.3f}" if gain else "   (ECE: no interval)"))
    print("would install" if result.installed else "would keep the shipped model")
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
