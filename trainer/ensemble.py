"""Cross-fitted head ensembles: K members, each validated on one fold of the non-test photos.

One train/validation split of a few hundred photos decides a lot: moving three photos
between them flipped a whole unseen compact's series from f/4.7 to f/2.6 (README, "The
shipped model"). Here every non-test photo trains K - 1 members and early-stops one, and
the model outputs the members' mean probability.

Calibration needs the ensemble's predictions on photos it never saw. For each fold, the
K - 1 members that could have been trained without it are trained (each early-stopping on
another fold) and their ensemble predicts the fold: K * (K - 1) extra, cheap head fits, and
every calibration row is an honest ensemble prediction, not a single member's.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..modelspec import ModelSpec
from . import prior as label_prior
from .features import FeatureSet
from .heads import HeadEnsemble, Heads, logits, train_heads
from .split import body_folds, folds, session_folds, shot_key
from .train import CalibrationSet, Prepared, TrainConfig

Init = Heads | HeadEnsemble | None


def pool(data: Prepared) -> list[int]:
    """The photos the ensemble learns from: everything outside the test split."""
    return sorted(data.train + data.val)


def fold_list(data: Prepared, config: TrainConfig, k: int) -> list[list[int]]:
    """The members' folds: each member stops early on its fold, and the calibration rows are
    each fold predicted by the members that never saw it. A fold holds whole shots, or with
    calibration_groups "body" whole bodies, with "session" a body's whole days (split.py)."""
    deal = {"body": body_folds, "session": session_folds}.get(config.calibration_groups, folds)
    dealt = [f for f in deal(data.photos, pool(data), k, config.seed) if f]
    if len(dealt) < k:  # fewer bodies or days than members: hold out shots instead
        dealt = [f for f in folds(data.photos, pool(data), k, config.seed) if f]
    return dealt


def member_inits(init: Init, k: int) -> list[Heads | None]:
    """Member j adapts member j of an ensemble base model, or the one base head."""
    if isinstance(init, HeadEnsemble):
        return list(init.members)  # type: ignore[arg-type]
    return [init] * k


def members_of(init: Init, config: TrainConfig) -> int:
    return len(init.members) if isinstance(init, HeadEnsemble) else config.members


def fitting_without(data: Prepared, held: list[int]) -> list[int]:
    """Training photos minus the held ones, with the partial labels that are not copies of them."""
    gone = set(held)
    shots = {shot_key(data.photos[i]) for i in held}
    return [i for i in pool(data) if i not in gone] + [i for i in data.extra if shot_key(data.photos[i]) not in shots]


def _member(data: Prepared, base: ModelSpec, config: TrainConfig, held: list[int], stop_on: list[int],
            init: Heads | None, seed: int) -> tuple[Heads, dict]:
    train_rows = data.features.rows(fitting_without(data, held + stop_on))
    stop_rows = data.features.rows(stop_on, identity_only=True)
    return train_heads(base, train_rows, stop_rows, replace(config.heads, seed=config.heads.seed + seed), init)


def _plan(data: Prepared, base: ModelSpec, config: TrainConfig,
          init: Init) -> tuple[list[list[int]], list[Heads | None], FeatureSet, ModelSpec]:
    """The folds, each member's starting heads, the pool's labels and the spec with its priors."""
    k = members_of(init, config)
    parts = fold_list(data, config, k)
    if len(parts) < 3:
        raise ValueError(f"a {k}-member ensemble needs at least 3 non-empty folds, got {len(parts)}")
    labels = data.features.rows(pool(data), identity_only=True)
    return parts, member_inits(init, len(parts)), labels, label_prior.with_priors(base, labels, config.label_prior)


def ensemble_members(data: Prepared, base: ModelSpec, config: TrainConfig, init: Init = None) -> HeadEnsemble:
    """The K members alone, for a stage whose calibration would be thrown away (the heads
    fine-tuning starts from): the K * (K - 1) nested fits are skipped."""
    parts, inits, _, base = _plan(data, base, config, init)
    return HeadEnsemble([_member(data, base, config, [], parts[m], inits[m], m)[0] for m in range(len(parts))])


def ensemble_calibration_set(data: Prepared, base: ModelSpec, config: TrainConfig,
                             init: Init = None) -> tuple[HeadEnsemble, list, CalibrationSet]:
    """The K members, and the honest (nested) ensemble predictions calibration fits on."""
    parts, inits, labels, base = _plan(data, base, config, init)
    fitted = [_member(data, base, config, [], parts[m], inits[m], m) for m in range(len(parts))]
    outputs: list[dict[str, np.ndarray]] = []
    rows: list[FeatureSet] = []
    for m, held in enumerate(parts):
        inner = [_member(data, base, config, held, parts[j], inits[j], j)[0] for j in range(len(parts)) if j != m]
        fold_rows = data.features.rows(held, identity_only=True)
        outputs.append(logits(HeadEnsemble(inner), fold_rows))
        rows.append(fold_rows)
    cal_rows = FeatureSet(**{key: np.concatenate([getattr(r, key) for r in rows]) for key in vars(rows[0])})
    cal_out = {key: np.concatenate([o[key] for o in outputs]) for key in outputs[0]}
    priors = None
    if base.prior:
        fold_of = {i: m for m, part in enumerate(parts) for i in part}
        priors = label_prior.leave_group_out(base, labels.fnumber, labels.focal35, labels.aux,
                                             [fold_of[i] for i in labels.photo], cal_rows.aux,
                                             [fold_of[i] for i in cal_rows.photo])
    history = [{"member": m, "validation_photos": len(parts[m]), **h} for m, (_, h) in enumerate(fitted)]
    return HeadEnsemble([h for h, _ in fitted]), history, CalibrationSet(base, cal_out, cal_rows, priors)
