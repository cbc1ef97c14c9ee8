"""The training labels' distribution per sensor-size class: the prior estimates are mixed with.

Depth of field and the lenses people put on a body both follow the sensor: phones and small
compacts sit at f/1.5-f/3.5 and 25-35 mm equivalent, full-frame bodies spread from f/1.4 to
f/16. The body's crop factor is known even behind a manual lens, so the prior is taken per
sensor-size class, and smoothed toward the overall one where a class has few photos.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import replace

import numpy as np

from ..equivalent import crop_prior
from ..calibration import sensor_class
from ..modelspec import ModelSpec
from .features import FeatureSet

# Upper crop factors of the classes: full frame and larger | APS-C, Four Thirds | 1-inch and
# bridge cameras | small-sensor compacts and phones. A last row serves an unknown crop factor.
CROP_BOUNDS = (1.2, 2.1, 3.5)
PSEUDO = 3.0  # a class's own photos count against this many photos' worth of the overall prior
FLAT = 0.5  # and the overall prior against this many of a flat one: no value is impossible
SIGMA = {"fnumber": float(np.log(2.0) / 6), "focal35": 0.1}  # kernel widths in ln units: 1/3 stop, ~10%


def kernels(values: np.ndarray, bins: np.ndarray, sigma: float) -> np.ndarray:
    """Each label as a small bump over the bins (log space), each row summing to 1."""
    d = np.log(bins)[None, :] - np.log(values)[:, None]
    k = np.exp(-0.5 * (d / sigma) ** 2)
    return k / k.sum(-1, keepdims=True)


def crop_class(aux: np.ndarray) -> np.ndarray:
    """Each row's sensor-size class index (len(CROP_BOUNDS) + 1 where the crop is unknown)."""
    return sensor_class(aux, CROP_BOUNDS)


def _table(bumps: np.ndarray, classes: np.ndarray) -> list[list[float]]:
    flat = np.full(bumps.shape[1], 1.0 / bumps.shape[1])
    overall = (bumps.sum(0) + FLAT * flat) / (len(bumps) + FLAT)
    rows = [(bumps[classes == c].sum(0) + PSEUDO * overall) / ((classes == c).sum() + PSEUDO)
            for c in range(len(CROP_BOUNDS) + 1)]
    return [[round(float(v), 6) for v in row] for row in [*rows, overall]]


def build(spec: ModelSpec, fnumber: np.ndarray, focal35: np.ndarray, aux: np.ndarray) -> dict:
    """The spec's `prior`: per target, one row per sensor-size class, then the overall row."""
    classes = crop_class(aux)
    out: dict = {"crop_bounds": list(CROP_BOUNDS)}
    for target, values, bins in (("fnumber", fnumber, spec.fnumber_bins), ("focal35", focal35, spec.focal35_bins)):
        out[target] = _table(kernels(np.asarray(values, float), np.asarray(bins), SIGMA[target]), classes)
    return out


def leave_group_out(spec: ModelSpec, fnumber: np.ndarray, focal35: np.ndarray, aux: np.ndarray,
                    groups: Sequence[Hashable], rows_aux: np.ndarray, rows_groups: Sequence[Hashable]
                    ) -> dict[str, np.ndarray]:
    """Prior rows for calibration rows, each built without its own photo group.

    A training photo's own label inside its prior would make the prior look better on
    the calibration photos than on a new one, and its weight would come out too high.
    """
    out: dict[str, list[np.ndarray]] = {"fnumber": [], "focal35": []}
    cache: dict[Hashable, dict] = {}
    for cls, group in zip(crop_class(rows_aux), rows_groups):
        if group not in cache:
            keep = np.asarray([g != group for g in groups])
            cache[group] = build(spec, fnumber[keep], focal35[keep], aux[keep])
        for target in out:
            out[target].append(np.asarray(cache[group][target][cls]))
    return {target: np.stack(rows) for target, rows in out.items()}


def with_priors(spec: ModelSpec, labels: FeatureSet, label_prior: bool) -> ModelSpec:
    """The spec with what the training labels say of sensors: the label prior (when asked)
    and, for a head in equivalent-aperture units, the crop factors an unknown body averages over."""
    if label_prior:
        spec = replace(spec, prior=build(spec, labels.fnumber, labels.focal35, labels.aux))
    if spec.dof_units == "equivalent":
        spec = replace(spec, crop_prior=crop_prior(labels.aux))
    return spec
