"""Build the shipped starter model from ../shared/data (rows marked `train` only).

    python -m photo_tagger.trainer.starter DATA_DIR [--out models] [--measure] [--new-split]

A rebuild keeps the test split of the model it replaces in --out: the photos that model
never learned from (--new-split deals a new one).

--measure also compares input sizes, the crop-factor input and calibration choices on
validation and on the dev-only photos (allowed for development measurements, never for
training) and writes runs/starter/measure.json; a later build renders it into the card.
"""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import dataclass, replace
from collections.abc import Sequence
from pathlib import Path

from ..estimate import estimate
from ..modelspec import SPEC_KEY, ModelSpec
from ..registry import SHIPPED_MODEL
from .backbone import load_backbone
from .card import measured_this_model, write_card
from .evaluate import baseline_figures, body_means, model_figures, per_body
from .export import PhototagNet, check, export, fingerprint, metadata, seen_shots, stamp
from .features import Extractor, extract
from .harvest import LabeledPhoto, harvest
from .heads import HeadConfig, logits
from .train import (Prepared, TrainConfig, base_spec, data_summary, default_extractor, evaluate_file, fit,
                    inference_inputs, learned, prepare_data, scored_info, validation_routes)
from .augment import IDENTITY

VERSION = "starter-0.1"


def index_paths(data_dir: Path, use: str) -> list[str]:
    with open(data_dir / "photos" / "index.tsv", newline="") as handle:
        return [str(data_dir / "photos" / row["path"]) for row in csv.DictReader(handle, delimiter="\t")
                if row["use"] == use]


@dataclass(frozen=True)
class Predecessor:
    """The model a rebuild replaces. Its test split (every shot it never saw) stays the
    test split, so the two versions' card figures are on the same photos."""

    version: str
    seen: frozenset[str]

    @classmethod
    def of(cls, path: Path) -> Predecessor | None:
        """The model at path, or None where there is none or it names no shots it learned."""
        if not path.is_file():
            return None
        props = metadata(path)
        seen = seen_shots(path, props)
        return cls(ModelSpec.from_json(props[SPEC_KEY]).model_version, seen) if seen else None


def prepare(photos: Sequence[LabeledPhoto], config: TrainConfig, cache: Path, partial: Sequence[LabeledPhoto],
            previous: Predecessor | None, extractor: Extractor | None = None) -> Prepared:
    """The build's data: its predecessor's test split kept where there is one."""
    return prepare_data(photos, config, extractor or default_extractor(config, cache), cache, partial=partial,
                        seen=previous.seen if previous else frozenset(), keep_test=previous is not None)


def build(photos: list[LabeledPhoto], config: TrainConfig, out_dir: Path, cache: Path,
          name: str = SHIPPED_MODEL, version: str = VERSION, dev: dict | None = None,
          partial: Sequence[LabeledPhoto] = (), previous: Predecessor | None = None) -> dict:
    """Train, export, check and evaluate; writes the model, its card and its resolved config.

    previous: keep its test split (Predecessor); None deals a new one."""
    data = prepare(photos, config, cache, partial, previous)
    fitted = fit(data, base_spec(version, config), config)
    summary = {**data_summary(photos, data, config.members),
               **({"test_kept_from": previous.version} if previous else {})}
    spec = replace(fitted.spec, model_version=f"{version}+{fingerprint(fitted.heads, fitted.spec)}",
                   info={**fitted.spec.info, "training_data": summary, "config": config.to_dict()})
    net = PhototagNet(load_backbone(config.backbone), fitted.heads)
    path = out_dir / name
    export(net, spec, path, data.seen_shots())  # so adapting it never tests on a photo it learned
    test_photos = [photos[i] for i in data.test]
    images, aux = inference_inputs(test_photos[:8], spec)
    max_diff = check(net, path, images, aux)
    result = evaluate_file(path, test_photos, [photos[i] for i in learned(data, config.members)])
    info = {**spec.info, **scored_info(fitted, data, result, max_diff), **({"development": dev} if dev else {})}
    stamp(path, replace(spec, info=info))  # the test figures travel in the file too
    (out_dir / name.replace(".onnx", ".config.json")).write_text(json.dumps(config.to_dict(), indent=2))
    write_card(path, info, spec.model_version)
    return {**info, "model_version": spec.model_version}


# What ships: 320 px, and five cross-fitted members (bench/ensemble_bench.py, since removed: over three split
# seeds the ensemble's dev-only focal MAPE was lower every time, its Brier scores mostly).
# The EV100 head also learns from four copies of each photo at redrawn apertures, and the
# confidences get an offset per sensor size for FNumber as well as focal length: on the DSLR
# and mirrorless photographers of bench/portfolio_bench.py that took FNumber within one stop
# from 35% to 40% and its mean confidence from 0.62 (for 35% right) to 0.47. Members' folds
# dealt by body (calibration_groups="body") measured worse there (docs/decisions.md).
SHIPPED = TrainConfig(input_size=320, members=5, class_shift=("fnumber", "focal35"),
                      heads=HeadConfig(aperture_copies=4))
MEASURE_TRIALS = {  # keyed by the label the card shows; the single-head trials compare with each other
    "320 px, 5 members, shipped": SHIPPED,
    "224 px": TrainConfig(input_size=224),
    "320 px": TrainConfig(input_size=320),
    "448 px": TrainConfig(input_size=448),
    "320 px, no crop-factor input": TrainConfig(input_size=320, heads=HeadConfig(use_crop_input=False)),
    "320 px, validation-only calibration": TrainConfig(input_size=320, calibration_folds=0),
    "320 px, no label prior": TrainConfig(input_size=320, label_prior=False),
    "320 px, calibration folds by body": TrainConfig(input_size=320, calibration_groups="body"),
    "320 px, no partial labels (crop factor unknown)": TrainConfig(input_size=320, partial_labels=False),
}
MEASURE_FILE = Path("runs/starter/measure.json")
MEASURE_COMMAND = "python -m photo_tagger.trainer.starter ../shared/data --measure"


def measure(photos: list[LabeledPhoto], dev: list[LabeledPhoto], cache: Path,
            trials: dict[str, TrainConfig] = MEASURE_TRIALS, partial: Sequence[LabeledPhoto] = (),
            previous: Predecessor | None = None) -> dict:
    """Validation and dev-only figures per trial configuration (input size, crop input, heads),
    each on the split the build makes (previous: Predecessor)."""
    out = {}
    for label, config in trials.items():
        extractor = default_extractor(config, cache)
        data = prepare(photos, config, cache, partial, previous, extractor)
        fitted = fit(data, base_spec("measure", config), config)
        spec = replace(fitted.spec, input_size=config.input_size)
        dev_feats = extract(dev, [[IDENTITY]] * len(dev), spec, extractor, cache)
        dev_out = logits(fitted.heads, dev_feats)
        by_route = {mode: estimate(fitted.spec, dev_out, dev_feats.aux, mode) for mode in ("dof", "exposure", "product")}
        routes = {mode: model_figures(est, dev_feats.fnumber, dev_feats.focal35) for mode, est in by_route.items()}
        train_rows = data.features.rows(data.train, identity_only=True)
        out[label] = {"validation": validation_routes(fitted, data), "combine": fitted.spec.combine,
                      # equals the built model's own fingerprint when the same code trains the same config
                      "fingerprint": fingerprint(fitted.heads, replace(fitted.spec, model_version=VERSION)),
                      "dev_only": routes[fitted.spec.combine], "dev_only_routes": routes,
                      "dev_only_body_means": body_means(per_body([p.body for p in dev], by_route[fitted.spec.combine], dev_feats.fnumber,
                                                                 dev_feats.focal35)),
                      "dev_only_baseline": baseline_figures(train_rows.fnumber, train_rows.focal35,
                                                            dev_feats.fnumber, dev_feats.focal35)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--out", type=Path, default=Path("models"))
    parser.add_argument("--cache", type=Path, default=Path("runs/starter/cache"))
    parser.add_argument("--measure", action="store_true")
    parser.add_argument("--new-split", action="store_true",
                        help="deal a new test split instead of keeping the one of the model in --out")
    args = parser.parse_args()
    train = harvest(index_paths(args.data_dir, "train"))
    print(f"labeled train photos: {len(train.photos)} (unresolved crop {train.unresolved_crop}, of which "
          f"{len(train.partial)} kept as partial labels; unlabeled {train.unlabeled}, out of range {train.out_of_range})")
    previous = None if args.new_split else Predecessor.of(args.out / SHIPPED_MODEL)
    if previous:
        print(f"test split kept from {previous.version}: the photos it never learned from")
    if args.measure:
        dev = harvest(index_paths(args.data_dir, "dev-only")).photos
        result = measure(train.photos, dev, args.cache, partial=train.partial, previous=previous)
        MEASURE_FILE.parent.mkdir(parents=True, exist_ok=True)
        # what the card's development section shows, as a later build reads it back
        MEASURE_FILE.write_text(json.dumps({"command": MEASURE_COMMAND, "dev_only_photos": len(dev),
                                            "trials": result}, indent=2))
        print(json.dumps(result, indent=2))
        return
    measured = json.loads(MEASURE_FILE.read_text()) if MEASURE_FILE.exists() else None
    info = build(train.photos, SHIPPED, args.out, args.cache, dev=measured, partial=train.partial, previous=previous)
    if measured and not measured_this_model(measured, info["model_version"]):
        print(f"warning: {MEASURE_FILE} was measured on another build; the card says so. "
              f"Re-run `{MEASURE_COMMAND}` and build again.")
    print(json.dumps({k: info[k] for k in ("test", "baseline_test")}, indent=2))


if __name__ == "__main__":
    main()
