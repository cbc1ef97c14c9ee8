"""Depth of field in equivalent-aperture units: the FNumber times the body's crop factor.

Framed alike (the same 35 mm-equivalent focal length, the same subject distance), two
photos show the same depth of field when N x crop is the same: f/1.8 on a phone with a
crop factor of 7 blurs a background like f/12.6 on full frame. So what the pixels can tell
is the equivalent aperture; the body's crop factor, known even behind a manual lens, turns
it into the FNumber exactly. A model whose spec says dof_units="equivalent" predicts its
depth-of-field distribution over dof_bins in those units, and this module converts it.

Where the crop factor is unknown, the conversion averages over the crop factors the model
was trained on (spec.crop_prior): the honest "some sensor like the ones I have seen".
"""

from __future__ import annotations

import numpy as np

from .modelspec import AUX_FEATURES, ModelSpec

_CROP = AUX_FEATURES.index("log2_crop_factor")
_HAS_CROP = AUX_FEATURES.index("has_crop_factor")


def dof_bins(spec: ModelSpec) -> np.ndarray:
    """The bins of the depth-of-field head's output (the FNumber bins unless the spec says)."""
    return np.asarray(spec.dof_bins or spec.fnumber_bins, dtype=np.float64)


def crop_factors(aux: np.ndarray) -> np.ndarray:
    """Each row's effective crop factor (NaN where unknown)."""
    aux = np.asarray(aux, dtype=np.float64)
    return np.where(aux[:, _HAS_CROP] > 0, np.exp2(aux[:, _CROP]), np.nan)


def dof_labels(spec: ModelSpec, fnumber: np.ndarray, aux: np.ndarray) -> np.ndarray:
    """The depth-of-field head's labels: the FNumber, or N x crop (NaN: crop unknown)."""
    fnumber = np.asarray(fnumber, dtype=np.float64)
    if spec.dof_units != "equivalent":
        return fnumber
    return fnumber * crop_factors(aux)


def transfer(eq_bins: np.ndarray, f_bins: np.ndarray, crop: float) -> np.ndarray:
    """[eq bin, FNumber bin]: where each equivalent bin's mass lands for this crop factor.

    Each value eq / crop splits its mass between the two FNumber bins around it, linearly
    in log space; beyond the ends it goes to the end bin (a phone's f/0.9 is its widest).
    """
    log_f = np.log(f_bins)
    target = np.clip(np.log(eq_bins) - np.log(crop), log_f[0], log_f[-1])
    upper = np.clip(np.searchsorted(log_f, target), 1, len(f_bins) - 1)
    lower = upper - 1
    frac = (target - log_f[lower]) / (log_f[upper] - log_f[lower])
    out = np.zeros((len(eq_bins), len(f_bins)))
    rows = np.arange(len(eq_bins))
    np.add.at(out, (rows, lower), 1.0 - frac)
    np.add.at(out, (rows, upper), frac)
    return out


def unknown_crop_transfer(spec: ModelSpec) -> np.ndarray:
    """The transfer averaged over the training crop factors, for bodies of unknown size."""
    eq_bins, f_bins = dof_bins(spec), np.asarray(spec.fnumber_bins)
    weights = np.asarray([w for _, w in spec.crop_prior], dtype=np.float64)
    mats = [transfer(eq_bins, f_bins, float(c)) for c, _ in spec.crop_prior]
    return np.tensordot(weights / weights.sum(), np.stack(mats), axes=1)


def to_fnumber(spec: ModelSpec, probs: np.ndarray, aux: np.ndarray) -> np.ndarray:
    """The depth-of-field distribution over the FNumber bins, whatever units the head used."""
    if spec.dof_units != "equivalent":
        return probs
    crops = np.round(crop_factors(aux), 4)  # rows of one body share one transfer matrix
    eq_bins, f_bins = dof_bins(spec), np.asarray(spec.fnumber_bins)
    out = np.empty((len(probs), len(f_bins)))
    known = ~np.isnan(crops)
    for crop in np.unique(crops[known]):
        rows = crops == crop
        out[rows] = probs[rows] @ transfer(eq_bins, f_bins, float(crop))
    if (~known).any():
        out[~known] = probs[~known] @ unknown_crop_transfer(spec)
    return out


def crop_prior(aux: np.ndarray) -> list[list[float]]:
    """The spec's crop_prior: each known crop factor among these rows and its share."""
    crops = crop_factors(aux)
    values, counts = np.unique(np.round(crops[~np.isnan(crops)], 2), return_counts=True)
    if len(values) == 0:
        return [[1.0, 1.0]]
    return [[float(v), round(float(c) / counts.sum(), 6)] for v, c in zip(values, counts)]
