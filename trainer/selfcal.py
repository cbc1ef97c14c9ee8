"""Self-calibration: adapt the current model to the labeled photos in a user's library.

Features come from the current model's own `features` output, so only its heads change
(with --finetune, the backbone's last blocks too: finetune.py); both the current model and
the adapted one are scored on the same held-out photos, and the adapted one is installed
(and made active) only if it is better.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..atomic import replace as replace_file
from ..atomic import write_temp
from ..config import state_dir, train_cache_dir, user_models_dir
from ..errors import TrainError, UnreadablePhotos
from ..infer import Predictor
from ..lenses import LensResolver
from ..modelspec import ModelSpec
from ..registry import ACTIVE_FILE, default_model
from .backbone import EfficientNetLite, load_backbone
from .evaluate import difference_intervals
from .export import PhototagNet, check, export, fingerprint, head_members, heads_from_onnx, seen_shots, stamp
from .feature_cache import FeatureCache
from .features import FEATURES_OUTPUT, Extractor, backbone_extractor
from .harvest import Harvest, harvest
from .heads import HeadConfig, new_heads
from .split import copy_key, shot_id
from .train import (FinetuneConfig, Fitted, Prepared, Progress, TrainConfig, data_summary, evaluate_file, fit, heads_only,
                    inference_inputs, learned, prepare_data, scored_info, truths)

MIN_PHOTOS = 15
# Below this many labeled photos an adaptation is pulled toward the model it starts from
# (heads.anchor_strength): fifteen photos nudge it, a hundred may move it.
ANCHOR_PHOTOS = 60
FINETUNE_BLOCKS = 2  # --finetune trains the last two MBConv blocks and the head conv


@dataclass(frozen=True)
class SelfCalOptions:
    """What `phototag train` was asked to do."""

    paths: tuple[str, ...]
    epochs: int = 600
    min_photos: int = MIN_PHOTOS
    finetune: bool = False
    base_model: Path | None = None
    workers: int | None = None
    crops: Mapping[str, float] | None = None
    lenses: LensResolver | None = None  # the user's manual lenses: their photos are left out


@dataclass
class SelfCalResult:
    """The comparison on held-out photos and whether the adapted model was installed."""

    found: Harvest
    base_model: Path
    current: dict = field(default_factory=dict)
    adapted: dict = field(default_factory=dict)
    installed: Path | None = None
    split_sizes: dict = field(default_factory=dict)
    finetune: dict = field(default_factory=dict)  # the backbone tail's training, when --finetune
    gain_95: dict = field(default_factory=dict)  # per figure, 95% interval of adapted minus current
    info: dict = field(default_factory=dict)  # what the adapted model's card records (installed with it)
    test_photos: list[str] = field(default_factory=list)  # the held-out photos both models were scored on
    base_learned: int = 0  # labeled photos here the current model learned from (kept out of the test)


def score(figures: dict) -> tuple[float, float]:
    """Higher is better: share within tolerance (FNumber + focal), then lower log error."""
    f, l = figures["fnumber"], figures["focal35"]
    return (f["within_one_stop"] + l["within_20_percent"], -(f["msle"] + l["msle"]))


def find_photos(options: SelfCalOptions) -> Harvest:
    """Step one, separate so the CLI can show per-body counts before training."""
    return harvest(options.paths, options.workers, options.crops, options.lenses)


def self_calibrate(options: SelfCalOptions, found: Harvest, scratch: Path | None = None,
                   progress: Progress | None = None) -> SelfCalResult:
    """Adapt the current model to the found photos; install only if it scores better.

    The candidate model is written into `scratch` when given (the caller keeps it), else
    into a temporary folder that goes with it. `progress` hears of each photo whose image
    features are ready (computed, or read from the cache).
    """
    if len(found.photos) < options.min_photos:
        raise TrainError(f"found {len(found.photos)} labeled photos; at least {options.min_photos} "
                         "are needed to learn from and still hold some out for testing")
    base_path = options.base_model or default_model().path
    spec = Predictor(base_path, "cpu").spec
    # calibrated on folds that hold out whole days: one outing's shots look alike, and seen
    # together they made an adapted model's confidences look better than a new outing's
    config = TrainConfig(input_size=spec.input_size, backbone=_variant(spec), members=head_members(base_path),
                         calibration_groups="session",
                         dof_units=spec.dof_units, prior_pool={t: spec.prior_pool.get(t, "linear") for t in ("fnumber", "focal35")},
                         class_shift=tuple(spec.class_shift),
                         heads=HeadConfig(epochs=options.epochs, lr=5e-4, patience=30, anchor_photos=ANCHOR_PHOTOS),
                         finetune=FinetuneConfig(blocks=FINETUNE_BLOCKS if options.finetune else 0))
    started = time.time()
    state_dir().mkdir(parents=True, exist_ok=True)
    folder = (contextlib.nullcontext(str(scratch)) if scratch is not None
              else tempfile.TemporaryDirectory(prefix=".train-", dir=state_dir()))
    with folder as where:
        result = _compare(found, base_path, spec, config, Path(where), progress)
    with FeatureCache(train_cache_dir()) as cache:
        cache.drop_unused_since(started)  # photos since deleted or changed, other models' features
    return result


def _compare(found: Harvest, base_path: Path, spec: ModelSpec, config: TrainConfig, scratch: Path,
             progress: Progress | None) -> SelfCalResult:
    """Adapt, export the candidate, score it and the current model on the same held-out
    photos, and install the candidate file itself if it did better."""
    seen = seen_shots(base_path)
    data, fitted, net = _adapt(found, base_path, spec, config, train_cache_dir(), scratch, progress, seen)
    new_spec = replace(fitted.spec, model_version=spec.model_version, info=own_info(spec, config))
    new_spec = replace(new_spec, model_version=adapted_version(spec.model_version, net, new_spec))
    candidate = scratch / "candidate.onnx"
    export(net, new_spec, candidate, seen | data.seen_shots())  # it starts from the base's heads: their shots too
    test = [found.photos[i] for i in data.test]
    train = [found.photos[i] for i in learned(data, config.members)]  # the baseline's median comes from them
    max_diff = check(net, candidate, *inference_inputs(test[:4], new_spec))
    summary = data_summary(found.photos, data, config.members)
    result = SelfCalResult(found, base_path, evaluate_file(base_path, test, train),
                           evaluate_file(candidate, test, train), split_sizes={**summary["photos"], "members": config.members},
                           finetune=fitted.report.get("finetune", {}), test_photos=[p.path for p in test],
                           base_learned=sum(shot_id(p) in seen for p in found.photos))
    result.gain_95 = difference_intervals(result.adapted["predictions"], result.current["predictions"],
                                          *truths(test), [copy_key(p) for p in test])
    result.info = {**new_spec.info, **scored_info(fitted, data, result.adapted, max_diff), "training_data": summary,
                   "base_model": base_path.name, "base_model_version": spec.model_version,
                   "base_model_test": result.current["model"], "config": config.to_dict()}
    if score(result.adapted["model"]) > score(result.current["model"]):
        result.installed = install(candidate, net, replace(new_spec, info=result.info))
    return result


def own_info(base: ModelSpec, config: TrainConfig) -> dict:
    """The base model's info that is true of the adapted one too: its backbone, and which
    blocks of it were fine-tuned (now, or in the base, whose tuned weights it starts from).
    The base's figures, calibration and design measurements describe another model."""
    info = {key: base.info[key] for key in ("backbone", "finetuned_blocks") if key in base.info}
    if config.finetune.blocks:
        info["finetuned_blocks"] = config.finetune.blocks
    return info


def adapted_version(base_version: str, net: PhototagNet, spec: ModelSpec) -> str:
    """The base model's version, the day, and a fingerprint of the whole network (a tuned
    backbone too) and its calibration. A scan redoes a photo only when the version differs:
    a minute stamp gave two adaptations in the same minute one version, so the second
    model's scan kept the first one's estimates."""
    return f"{base_version}+self-{time.strftime('%Y%m%d')}-{fingerprint(net, spec)}"


def _adapt(found: Harvest, base_path: Path, spec: ModelSpec, config: TrainConfig, cache: Path,
           scratch: Path, progress: Progress | None = None,
           seen: frozenset[str] = frozenset()) -> tuple[Prepared, Fitted, PhototagNet]:
    """Heads on the base model's cached features; with finetune, then the backbone's tail too.

    After fine-tuning, the heads are fitted and calibrated again (train.fit, out-of-fold as
    always) on the tuned backbone's features, so the spec matches the exported network.
    """
    extractor, init = _start_from(base_path, spec, config, cache)
    backbone = base_backbone(base_path, spec, config.backbone)
    try:
        data = prepare_data(found.photos, config, extractor, cache, progress, partial=found.partial, seen=seen)
    except UnreadablePhotos as exc:  # named by the caller; the others' features are cached by now
        found.drop(exc.failures)
        data = prepare_data(found.photos, config, extractor, cache, progress, partial=found.partial, seen=seen)
    if not (data.val and data.test):
        if seen and not data.test:
            raise TrainError(f"every labeled photo here is one {base_path.name} learned from, so none is left to test "
                             "the adapted model on fairly: add photos it has not seen, or start from another model "
                             "(--model)")
        raise TrainError("the labeled photos are too few distinct shots to hold some out for testing")
    if init is None:
        init = new_heads(spec, data.features.rows(data.train), config.heads)
    base = replace(spec, bias={}, temperature={})
    if not config.finetune.blocks:
        fitted = fit(data, base, config, init)
        return data, fitted, PhototagNet(backbone, fitted.heads)
    from .finetune import finetune

    first = heads_only(data, base, config, init)  # fine-tuning starts from them; fit() calibrates after
    tuned = finetune(backbone, first, data, spec, config, scratch)
    fitted = fit(tuned.data, base, config, tuned.heads)
    fitted.report["finetune"] = tuned.report
    return tuned.data, fitted, PhototagNet(tuned.backbone, fitted.heads)


def base_backbone(base: Path, spec: ModelSpec, variant: str) -> EfficientNetLite:
    """The base model's backbone: its fine-tuned weights when it has them, else the pretrained ones."""
    from .finetune import load_tuned_backbone

    tuned = load_tuned_backbone(base, variant)
    if tuned is not None:
        return tuned
    if spec.info.get("finetuned_blocks"):
        raise TrainError(f"{base.name} has a fine-tuned backbone but its weights file "
                         f"{base.stem}.backbone.pt is missing; start from another model with --model")
    return load_backbone(variant)


def _variant(spec) -> str:  # type: ignore[no-untyped-def]
    return str(spec.info.get("backbone", "efficientnet-lite0")).replace("efficientnet-", "")


def _start_from(base: Path, spec: ModelSpec, config: TrainConfig, cache: Path) -> tuple[Extractor, object]:
    """The base model's own features and heads when it has them, else the bare backbone
    (spec: the base's; config.members: its member count, as self_calibrate read it)."""
    try:
        extractor = Extractor(base, FEATURES_OUTPUT)
    except ValueError:
        return backbone_extractor(config.backbone, config.input_size, cache), None
    try:
        from .heads import HeadEnsemble, Heads, bin_sizes

        sizes, k = bin_sizes(spec), config.members
        template = Heads(1280, 9, sizes) if k == 1 else HeadEnsemble([Heads(1280, 9, sizes) for _ in range(k)])
        return extractor, heads_from_onnx(base, template)
    except KeyError as exc:
        raise TrainError(f"{base.name} was not exported by phototag's trainer ({exc})") from exc


def install(candidate: Path, net: PhototagNet, spec: ModelSpec) -> Path:
    """Put the file that was scored into the user's models folder, its spec now carrying the
    held-out figures (stamped into the candidate), and point active.json at it; each file
    appears whole or not at all."""
    folder = user_models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    # the fingerprint ending the version keeps two runs that finish in the same second
    # from writing one name (and one run's card beside the other's network)
    name = f"phototag-self-{time.strftime('%Y%m%d-%H%M%S')}-{spec.model_version.rsplit('-', 1)[-1]}.onnx"
    path = folder / name
    stamp(candidate, spec)  # metadata only: the graph and weights are the ones just tested
    _write_whole(path, candidate.read_bytes())
    if spec.info.get("finetuned_blocks"):
        from .finetune import save_backbone

        save_backbone(net.backbone, path)
    from .card import write_card

    write_card(path, spec.info, spec.model_version)
    _write_whole(folder / ACTIVE_FILE, json.dumps({"model": name}).encode())
    return path


def _write_whole(path: Path, data: bytes) -> None:
    """Through a verified temporary copy and one rename, as phototag writes photos (atomic.py)."""
    replace_file(write_temp(str(path), data, None, None), str(path))
