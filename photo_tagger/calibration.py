"""Apply what the calibration photos taught: range biases, the label prior, confidence offsets.

The trainer fits these (trainer/calibrate.py) and the spec carries them; `estimate` applies
them here, so the trainer's evaluation and `scan` read the same numbers the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .equivalent import crop_factors
from .modelspec import ModelSpec

TINY = 1e-12  # keeps log() finite where a bin holds no mass


def shift_confidence(confidence: np.ndarray | float, shift: np.ndarray | float) -> np.ndarray:
    """Move a confidence's log-odds by the calibration photos' offset (0 or 1 stay put)."""
    p = np.asarray(confidence, dtype=np.float64)
    odds = p * np.exp(shift)
    return odds / np.maximum(odds + 1.0 - p, TINY)


def apply_bias(values: np.ndarray, table: list[list[float]] | None) -> np.ndarray:
    """Multiply each estimate by the correction fitted for its range on validation.

    table rows are [upper_bound, factor], sorted by bound; values above the last bound
    use the last row.
    """
    if not table:
        return values
    bounds = np.asarray([row[0] for row in table])
    factors = np.asarray([row[1] for row in table])
    index = np.minimum(np.searchsorted(bounds, values), len(table) - 1)
    return values * factors[index]


def sensor_class(aux: np.ndarray, bounds: Sequence[float]) -> np.ndarray:
    """Each row's sensor-size class by crop factor (index into bounds; len(bounds) + 1 where
    the crop factor is unknown). The trainer's prior and inference share this one rule."""
    crops = crop_factors(aux)
    cls = np.searchsorted(np.asarray(bounds, dtype=np.float64), np.nan_to_num(crops))
    return np.where(np.isnan(crops), len(bounds) + 1, cls)


def prior_rows(spec: ModelSpec, target: str, aux: np.ndarray) -> np.ndarray | None:
    """Each row's label prior: that of its sensor-size class, or the last row if the crop is unknown."""
    table = spec.prior.get(target)
    if not table:
        return None
    return np.asarray(table, dtype=np.float64)[sensor_class(aux, spec.prior.get("crop_bounds", []))]


def with_prior(spec: ModelSpec, target: str, probs: np.ndarray, aux: np.ndarray,
               prior: np.ndarray | None = None) -> np.ndarray:
    """Mix the training labels' distribution for the row's sensor size into the model's.

    With a hundred-odd training photos the heads are often confidently wrong on an unseen
    body; the prior (how apertures and focal lengths are spread on such sensors) bounds
    that, and its weight is what calibration photos said it is worth. A mixture keeps both
    spreads; the geometric pool (prior_pool "log") keeps their overlap: where a phone's model
    has a narrow peak at 28 mm and a confused long tail, and its prior spreads over 26-38 mm,
    the mixture's median lands on the prior's shoulder and the pool's on the model's peak
    (bench/prior_pool_bench.py, since removed). `prior` overrides the spec's rows
    (calibration passes leave-one-out rows).
    """
    weight = spec.prior_weight.get(target, 0.0)
    prior = prior if prior is not None else prior_rows(spec, target, aux)
    if weight <= 0.0 or prior is None:
        return probs
    if spec.prior_pool.get(target, "linear") == "log":
        pooled = np.exp((1.0 - weight) * np.log(probs + TINY) + weight * np.log(prior + TINY))
        return pooled / pooled.sum(-1, keepdims=True)
    return (1.0 - weight) * probs + weight * prior


def confidence_shifts(spec: ModelSpec, target: str, aux: np.ndarray) -> np.ndarray:
    """Each row's log-odds offset: the target's overall one plus its sensor-size class's.

    Phones and compacts carry one fixed lens, and there the focal-length distribution is
    sharp and mostly right; behind an interchangeable lens or a long zoom it says little, so
    one offset for all left the larger sensors' focal lengths at confidences averaging
    0.39-0.57 on bodies never trained on, of which 4-8% were within 20%
    (bench/class_shift_bench.py, since removed). The class offsets (spec.class_shift) are indexed as the
    label prior's rows.
    """
    shifts = np.full(len(aux), spec.confidence_shift.get(target, 0.0))
    offsets = spec.class_shift.get(target)
    if offsets:
        shifts = shifts + np.asarray(offsets, dtype=np.float64)[sensor_class(aux, spec.prior.get("crop_bounds", []))]
    return shifts
