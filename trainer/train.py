"""Train, calibrate, export and evaluate one model from labeled photos.

Split by photo, features once, heads on the cache, calibration on validation, and the
test figures measured on the exported ONNX file through the inference path.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence, Set
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from ..calibration import prior_rows
from ..camera import UNKNOWN_BODY
from ..discover import is_raw
from ..infer import Predictor
from ..modelspec import DOF_UNITS, PRIOR_POOLS, ModelSpec, default_spec, third_stop_bins
from ..preprocess import prepare
from . import calibrate as calib
from . import prior as label_prior
from .augment import CROP_FACTORS, IDENTITY, Variant, plan
from .evaluate import (baseline_figures, baseline_predictions, difference_intervals, figures, per_body,
                       predictions)
from .features import Extractor, FeatureSet, backbone_extractor, extract
from .harvest import LabeledPhoto
from .heads import HeadConfig, HeadEnsemble, Heads, logits, train_heads
from .split import copy_key, shot_id, shot_key, split

Progress = Callable[[int], None]


@dataclass(frozen=True)
class FinetuneConfig:
    """Settings for training the backbone's tail with the heads (finetune.py); blocks=0: off."""

    blocks: int = 0  # last MBConv blocks to train, plus the head conv
    lr: float = 1e-4  # low: a few hundred photos must nudge, not overwrite, ImageNet weights
    epochs: int = 30
    patience: int = 4  # epochs without a better validation loss before stopping
    batch: int = 32
    seed: int = 0


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a model; saved beside it as the resolved configuration."""

    backbone: str = "lite0"
    input_size: int = 320  # beat 224 on validation and dev-only photos (runs/starter/measure.json)
    crops: tuple[float, ...] = CROP_FACTORS
    per_crop: int = 1
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    seed: int = 0
    calibration_folds: int = 4  # out-of-fold training predictions join validation in calibration; 0: validation only
    # what each calibration fold (and an ensemble member's stopping fold) holds out whole: "shot"
    # (copies of one photo), "body" (every photo of a camera: predictions for unseen bodies) or,
    # "session" (a body's photos of one day: predictions for a new outing)
    calibration_groups: str = "shot"
    label_prior: bool = True  # mix the sensor-size label prior in where calibration says it helps (prior.py)
    # how each target's prior joins the model (modelspec.PRIOR_POOLS): geometric for focal
    # length, where on the dev-only photos the mixture's estimate slid off the phones' one
    # focal length on all three split seeds (bench/prior_pool_bench.py, since removed); FNumber gained nothing
    prior_pool: dict[str, str] = field(default_factory=lambda: {"fnumber": "linear", "focal35": "log"})
    # targets whose confidences get one more offset per sensor-size group (calibrate.fit_class_shift):
    # focal length, whose confidences on larger sensors promised 0.34-0.44 for 0-12% within 20%
    # on the calibration photos; on the dev-only photos its Brier score improved on all three
    # split seeds. FNumber's improved on one: its larger sensors' on all three, but the phones'
    # offset (up) worsened the two long series that miss by a stop (bench/class_shift_bench.py, since removed)
    class_shift: tuple[str, ...] = ("focal35",)
    partial_labels: bool = True  # photos with an unknown crop factor train the FNumber and EV100 heads
    members: int = 1  # >1: a cross-fitted ensemble of heads over the non-test photos (ensemble.py)
    dof_units: str = "fnumber"  # "equivalent": the depth-of-field head predicts N x crop (equivalent.py)
    heads: HeadConfig = field(default_factory=HeadConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Prepared:
    """Photos, their split and their cached feature rows."""

    photos: list[LabeledPhoto]
    train: list[int]
    val: list[int]
    test: list[int]
    features: FeatureSet
    plans: list[list[Variant]] = field(default_factory=list)  # per photo, what its rows rendered
    extra: list[int] = field(default_factory=list)  # partial labels (no focal length): training only

    def seen_shots(self) -> set[str]:
        """The shots a model fitted on this data learned from or was early-stopped on:
        everything but the test split (split.shot_id)."""
        return {shot_id(self.photos[i]) for i in self.train + self.val + self.extra}

    @property
    def fitting(self) -> list[int]:
        """The photos the heads learn from: training photos and partial labels."""
        return self.train + self.extra


@dataclass
class Fitted:
    """Trained heads, the calibrated spec, and what validation said while choosing."""

    heads: Heads
    spec: ModelSpec
    report: dict


def prepare_data(photos: Sequence[LabeledPhoto], config: TrainConfig, extractor: Extractor,
                 cache_dir: Path | None, progress: Progress | None = None,
                 partial: Sequence[LabeledPhoto] = (), seen: Set[str] = frozenset(),
                 keep_test: bool = False) -> Prepared:
    """Split by photo; augmented variants for training photos, inference inputs for the rest.

    Partial labels (crop factor unknown, so no focal label) join training only: validation
    and test keep photos whose every figure can be measured. One that looks like a copy of
    a validation or test shot is dropped, so no shot is both learned and scored. seen: the
    shots the starting model learned from, never tested on; keep_test: all others are the
    test split (split.split).
    """
    train, val, test = split(photos, config.fractions, config.seed, seen, keep_test)
    held = {shot_key(photos[i]) for i in val + test}
    kept = [p for p in partial if shot_key(p) not in held] if config.partial_labels else []
    everything = [*photos, *kept]
    extra = list(range(len(photos), len(everything)))
    rng = random.Random(config.seed)
    learn = set(train + extra + (val if config.members > 1 else []))  # an ensemble trains on validation too
    plans = [plan(rng, config.crops, config.per_crop) if i in learn else [IDENTITY]
             for i in range(len(everything))]
    spec = default_spec("features", config.input_size)
    feats = extract(everything, plans, spec, extractor, cache_dir, progress)
    return Prepared(everything, train, val, test, feats, plans, extra)


@dataclass
class CalibrationSet:
    """The honest predictions calibration fits on: out-of-fold training rows, then validation."""

    base: ModelSpec  # the uncalibrated spec, label prior included
    outputs: dict[str, np.ndarray]
    rows: FeatureSet
    priors: dict[str, np.ndarray] | None


def fit(data: Prepared, base: ModelSpec, config: TrainConfig, init: Heads | None = None) -> Fitted:
    """Train heads (from init when adapting), then calibrate on honest predictions.

    The validation photos chose each head's best epoch, so their predictions flatter the
    model and a confidence fitted on them alone comes out overconfident. Calibration
    therefore also uses out-of-fold predictions for the training photos.
    """
    heads, history, cal = calibration_set(data, base, config, init)
    rows = cal.rows
    spec, report = calib.calibrate(cal.base, cal.outputs, rows.aux, rows.fnumber, rows.focal35, rows.ev100, cal.priors,
                                 class_targets=config.class_shift)
    report["training"] = history
    report["calibration_photos"] = int(len(rows.fnumber))
    return Fitted(heads, spec, report)


def is_ensemble(config: TrainConfig, init: Heads | None) -> bool:
    """Whether this training makes a cross-fitted ensemble (ensemble.py): asked for, or adapting one."""
    return config.members > 1 or isinstance(init, HeadEnsemble)


def _single(data: Prepared, base: ModelSpec, config: TrainConfig,
            init: Heads | None) -> tuple[ModelSpec, Heads, dict, FeatureSet, FeatureSet]:
    """One set of heads on the training photos, early-stopped on validation; also the spec with
    its priors, the training labels and the validation rows."""
    labels = data.features.rows(data.train, identity_only=True)
    base = label_prior.with_priors(base, labels, config.label_prior)
    val_rows = data.features.rows(data.val, identity_only=True)
    heads, history = train_heads(base, data.features.rows(data.fitting), val_rows, config.heads, init)
    return base, heads, history, labels, val_rows


def heads_only(data: Prepared, base: ModelSpec, config: TrainConfig, init: Heads | None = None) -> Heads:
    """The heads fit() would train, without the rows to calibrate them on: for a first stage
    whose calibration would be thrown away (fine-tuning starts from these heads)."""
    if is_ensemble(config, init):
        from .ensemble import ensemble_members

        return ensemble_members(data, base, config, init)
    return _single(data, base, config, init)[1]


def calibration_set(data: Prepared, base: ModelSpec, config: TrainConfig,
                    init: Heads | None = None) -> tuple[Heads, list, CalibrationSet]:
    """Train the heads and gather the rows calibration may fit on (bench/confidence_cv.py, since removed
    cross-validates the last calibration step on the same rows)."""
    if is_ensemble(config, init):
        from .ensemble import ensemble_calibration_set

        return ensemble_calibration_set(data, base, config, init)  # type: ignore[return-value]
    base, heads, history, labels, val_rows = _single(data, base, config, init)
    outputs, rows = logits(heads, val_rows), val_rows
    priors = None
    if config.calibration_folds > 1:
        oof, oof_rows = out_of_fold(data, base, config, init, config.calibration_folds)
        outputs = {k: np.concatenate([oof[k], outputs[k]]) for k in outputs}
        rows = _concat(oof_rows, rows)
        if base.prior:
            priors = _calibration_priors(data, base, labels, oof_rows, val_rows, config.calibration_groups)
    return heads, history, CalibrationSet(base, outputs, rows, priors)


def calibration_group(photo: LabeledPhoto, by: str) -> tuple:
    """What one fold holds out whole. "body" makes calibration see bodies it was not trained
    on, as a shipped model will; "session" a body's days it was not trained on, as a
    library's next outing will be. Photos of an unknown body or day fall back to their shot."""
    if by not in ("shot", "body", "session"):
        raise ValueError(f"calibration_groups must be 'shot', 'body' or 'session', not {by!r}")
    if by == "body" and photo.body != UNKNOWN_BODY:
        return ("body", photo.body)
    if by == "session" and photo.day is not None:
        return ("session", photo.body, photo.day)
    return copy_key(photo)


def _calibration_priors(data: Prepared, base: ModelSpec, labels: FeatureSet, oof_rows: FeatureSet,
                        val_rows: FeatureSet, by: str) -> dict[str, np.ndarray]:
    """Label priors for the calibration rows: each training photo's built without its own
    fold group (leave-one-out), the validation photos' from all training labels."""
    loo = label_prior.leave_group_out(base, labels.fnumber, labels.focal35, labels.aux,
                                      [calibration_group(data.photos[i], by) for i in labels.photo],
                                      oof_rows.aux, [calibration_group(data.photos[i], by) for i in oof_rows.photo])
    return {t: np.concatenate([loo[t], prior_rows(base, t, val_rows.aux)]) for t in loo}  # type: ignore[list-item]


def out_of_fold(data: Prepared, base: ModelSpec, config: TrainConfig, init: Heads | None,
                folds: int = 4) -> tuple[dict[str, np.ndarray], FeatureSet]:
    """Predictions for each training photo from heads trained without it (K folds by photo)."""
    val_rows = data.features.rows(data.val, identity_only=True)
    groups: dict[tuple, list[int]] = {}
    for i in data.train:  # copies of one shot (or one body's photos) stay in one fold
        groups.setdefault(calibration_group(data.photos[i], config.calibration_groups), []).append(i)
    order = list(groups.values())
    random.Random(config.seed + 1).shuffle(order)
    parts: list[tuple[dict[str, np.ndarray], FeatureSet]] = []
    for k in range(folds):
        held = [i for members in order[k::folds] for i in members]
        if not held:
            continue
        rest = [i for i in data.fitting if i not in set(held)]
        fold_heads, _ = train_heads(base, data.features.rows(rest), val_rows, config.heads, init)
        held_rows = data.features.rows(held, identity_only=True)
        parts.append((logits(fold_heads, held_rows), held_rows))
    outputs = {k: np.concatenate([p[0][k] for p in parts]) for k in parts[0][0]}
    rows = parts[0][1]
    for _, more in parts[1:]:
        rows = _concat(rows, more)
    return outputs, rows


def _concat(a: FeatureSet, b: FeatureSet) -> FeatureSet:
    return FeatureSet(**{k: np.concatenate([getattr(a, k), getattr(b, k)]) for k in vars(a)})


def validation_routes(fitted: Fitted, data: Prepared) -> dict:
    """Figures of each route on validation with the final calibration (for the card); an
    ensemble's validation photos trained its members, so its routes on the (honest)
    calibration rows, as calibration scored them when it chose."""
    if isinstance(fitted.heads, HeadEnsemble):
        return fitted.report["routes_validation"]
    rows = data.features.rows(data.val, identity_only=True)
    return calib.route_scores(fitted.spec, logits(fitted.heads, rows), rows.aux, rows.fnumber, rows.focal35)


def scored_info(fitted: Fitted, data: Prepared, result: dict, max_diff: float) -> dict:
    """What a model file and its card carry about its own calibration and held-out scores
    (`result`: evaluate_file's); the starter and self-calibration record the same keys."""
    return {"test": result["model"], "baseline_test": result["baseline"], "test_difference_95": result["difference_95"],
            "test_shots": result["shots"],
            "per_body_test": result["per_body"], "validation": to_json(fitted.report),
            "validation_routes_final": validation_routes(fitted, data), "export_max_abs_diff": max_diff}


def to_json(value: object) -> object:
    """Plain JSON types (numpy scalars to numbers, anything else to text)."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if isinstance(v, np.generic) else str(v)))


def inference_inputs(photos: Sequence[LabeledPhoto], spec: ModelSpec) -> tuple[np.ndarray, np.ndarray]:
    """Exactly what `scan` feeds the model for these files."""
    images = np.stack([prepare(Path(p.path).read_bytes(), spec, is_raw(p.path)) for p in photos])
    return images, np.stack([p.aux for p in photos]).astype(np.float32)


def evaluate_file(model: Path, photos: Sequence[LabeledPhoto], train_photos: Sequence[LabeledPhoto]) -> dict:
    """Held-out figures of an ONNX file through Predictor + estimate, next to the median
    baseline, with the 95% interval of their difference over shots resampled (and the
    per-photo predictions, so two models can be compared the same way)."""
    predictor = Predictor(model, "cpu")  # the CPU path runs the photos a few at a time itself
    estimates = predictor.predict(*inference_inputs(photos, predictor.spec))
    f_true, l_true = truths(photos)
    train_f = np.asarray([p.fnumber for p in train_photos])
    train_l = np.asarray([p.focal35 for p in train_photos])
    preds = predictions(estimates)
    shots = [copy_key(p) for p in photos]  # what the intervals resample
    return {
        "model": figures(*preds, f_true, l_true),
        "baseline": baseline_figures(train_f, train_l, f_true, l_true),
        "difference_95": difference_intervals(preds, baseline_predictions(train_f, train_l, len(photos)),
                                              f_true, l_true, shots),
        "per_body": per_body([p.body for p in photos], estimates, f_true, l_true),
        "shots": len(set(shots)),
        "predictions": preds,
    }


def truths(photos: Sequence[LabeledPhoto]) -> tuple[np.ndarray, np.ndarray]:
    """The photos' labels: FNumber and 35 mm-equivalent focal length."""
    return np.asarray([p.fnumber for p in photos]), np.asarray([p.focal35 for p in photos])


def learned(data: Prepared, members: int) -> list[int]:
    """The labeled photos a model learned from: an ensemble (members > 1) learns from the
    validation photos too, each member from those outside its own fold."""
    return data.train + data.val if members > 1 else data.train


def data_summary(photos: Sequence[LabeledPhoto], data: Prepared, members: int = 1) -> dict:
    """What trained the model, and how the photos were split."""
    taught = learned(data, members)
    bodies: dict[str, int] = {}
    for i in taught:
        bodies[photos[i].body] = bodies.get(photos[i].body, 0) + 1
    return {"photos": {"train": len(data.train), "validation": len(data.val), "test": len(data.test)},
            "members": members,
            "train_rows_with_augmentation": int(np.isin(data.features.photo, taught).sum()),
            "partial_labels": len(data.extra),  # crop factor unknown: FNumber and EV100 heads only
            "train_bodies": dict(sorted(bodies.items(), key=lambda kv: -kv[1]))}


def default_extractor(config: TrainConfig, cache_dir: Path) -> Extractor:
    return backbone_extractor(config.backbone, config.input_size, cache_dir)


def base_spec(version: str, config: TrainConfig) -> ModelSpec:
    if config.dof_units not in DOF_UNITS:
        raise ValueError(f"dof_units must be one of {DOF_UNITS}, not {config.dof_units!r}")
    if any(pool not in PRIOR_POOLS for pool in config.prior_pool.values()):
        raise ValueError(f"prior_pool values must be among {PRIOR_POOLS}, not {config.prior_pool}")
    spec = replace(default_spec(version, config.input_size), info={"backbone": f"efficientnet-{config.backbone}"},
                   prior_pool=dict(config.prior_pool))
    if config.dof_units == "equivalent":  # f/1 on full frame to f/8 behind a crop factor of 16
        spec = replace(spec, dof_units="equivalent", dof_bins=tuple(third_stop_bins(0, 42)))
    return spec
