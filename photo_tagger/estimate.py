"""From the model's bin logits to estimates with a calibrated confidence.

Pure numpy, shared by `scan` and the trainer's evaluation. A confidence is the
probability mass within one stop (FNumber) or 20% (focal length) of the estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .modelspec import AUX_FEATURES, ModelSpec

ONE_STOP = float(np.sqrt(2.0))  # one stop is a factor of sqrt(2) in FNumber
FOCAL_TOLERANCE = 1.2  # "within 20%"
_T = AUX_FEATURES.index("log2_exposure_time")
_HAS_T = AUX_FEATURES.index("has_exposure_time")
_ISO = AUX_FEATURES.index("log2_iso_over_100")
_HAS_ISO = AUX_FEATURES.index("has_iso")


@dataclass(frozen=True)
class Estimate:
    """One photo's estimates in 35 mm-equivalent and FNumber units."""

    fnumber: float
    fnumber_confidence: float
    focal_length_35mm: float
    focal_length_confidence: float
    ev100: float | None


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits.astype(np.float64) / max(temperature, 1e-6)
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def windowed_mass(probs: np.ndarray, bins: np.ndarray, factor: float) -> np.ndarray:
    """For each bin centre c, the mass of bins within [c/factor, c*factor]."""
    log_bins = np.log(bins)
    inside = np.abs(log_bins[:, None] - log_bins[None, :]) <= np.log(factor) + 1e-9
    return probs @ inside.T.astype(probs.dtype)


def point_and_confidence(
    probs: np.ndarray, bins: np.ndarray, factor: float
) -> tuple[np.ndarray, np.ndarray]:
    """The estimate is the centre whose tolerance window holds the most mass.

    Its confidence is that mass: the probability the true value is within tolerance.
    The estimate is refined to the window's log-weighted mean so it is not stuck on a bin.
    """
    mass = windowed_mass(probs, bins, factor)
    best = mass.argmax(axis=-1)
    log_bins = np.log(bins)
    inside = np.abs(log_bins[None, :] - log_bins[best][:, None]) <= np.log(factor) + 1e-9
    weights = probs * inside
    refined = np.exp((weights * log_bins).sum(-1) / np.maximum(weights.sum(-1), 1e-12))
    return refined, mass[np.arange(len(best)), best]


def exposure_fnumber_probs(
    ev_probs: np.ndarray, ev_bins: np.ndarray, aux: np.ndarray, f_bins: np.ndarray
) -> np.ndarray:
    """Map a distribution over scene EV100 to one over FNumber via N^2 = t * 2^EV * ISO/100.

    Rows without exposure time or ISO get a flat distribution (no information).
    """
    log2_n2 = ev_bins[None, :] + aux[:, _T : _T + 1] + aux[:, _ISO : _ISO + 1]
    log2_n = log2_n2 / 2.0
    edges = np.log2(f_bins)
    nearest = np.abs(log2_n[:, :, None] - edges[None, None, :]).argmin(-1)
    out = np.zeros((len(aux), len(f_bins)))
    for row in range(len(aux)):
        np.add.at(out[row], nearest[row], ev_probs[row])
    known = (aux[:, _HAS_T] > 0) & (aux[:, _HAS_ISO] > 0)
    out[~known] = 1.0 / len(f_bins)
    out = out + 1e-6  # never let one route veto the other outright
    return out / out.sum(-1, keepdims=True)


def fnumber_distribution(
    spec: ModelSpec, f_logits: np.ndarray, ev_logits: np.ndarray, aux: np.ndarray, mode: str | None = None
) -> np.ndarray:
    """The FNumber distribution from depth of field, exposure, or both (spec.combine)."""
    mode = mode or spec.combine
    f_bins = np.asarray(spec.fnumber_bins)
    dof = softmax(f_logits, spec.temperature.get("fnumber", 1.0))
    if mode == "dof":
        return dof
    ev = softmax(ev_logits, spec.temperature.get("ev100", 1.0))
    exposure = exposure_fnumber_probs(ev, np.asarray(spec.ev100_bins), aux, f_bins)
    if mode == "exposure":
        return exposure
    combined = dof * exposure
    return combined / combined.sum(-1, keepdims=True)


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


def estimate(
    spec: ModelSpec, outputs: dict[str, np.ndarray], aux: np.ndarray, mode: str | None = None
) -> list[Estimate]:
    """Estimates for a batch, from the model's raw outputs and the auxiliary inputs."""
    from .modelspec import OUTPUT_EV100, OUTPUT_FNUMBER, OUTPUT_FOCAL35

    f_probs = fnumber_distribution(spec, outputs[OUTPUT_FNUMBER], outputs[OUTPUT_EV100], aux, mode)
    f_val, f_conf = point_and_confidence(f_probs, np.asarray(spec.fnumber_bins), ONE_STOP)
    l_probs = softmax(outputs[OUTPUT_FOCAL35], spec.temperature.get("focal35", 1.0))
    l_val, l_conf = point_and_confidence(l_probs, np.asarray(spec.focal35_bins), FOCAL_TOLERANCE)
    f_val = apply_bias(f_val, spec.bias.get("fnumber"))
    l_val = apply_bias(l_val, spec.bias.get("focal35"))
    ev_probs = softmax(outputs[OUTPUT_EV100], spec.temperature.get("ev100", 1.0))
    ev_mean = ev_probs @ np.asarray(spec.ev100_bins)
    return [
        Estimate(
            fnumber=round(float(f_val[i]), 2),
            fnumber_confidence=round(float(f_conf[i]), 4),
            focal_length_35mm=round(float(l_val[i]), 1),
            focal_length_confidence=round(float(l_conf[i]), 4),
            ev100=round(float(ev_mean[i]), 2),
        )
        for i in range(len(aux))
    ]
