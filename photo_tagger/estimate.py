"""From the model's bin logits to estimates with a calibrated confidence.

Pure numpy, shared by `scan` and the trainer's evaluation. A confidence is the
probability that the estimate is right as the figures count it (ONE_STOP, WITHIN_20_PERCENT),
its log-odds then shifted by the offset the trainer measured on calibration photos.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .calibration import TINY, apply_bias, confidence_shifts, shift_confidence, with_prior
from .equivalent import to_fnumber
from .modelspec import AUX_FEATURES, OUTPUT_EV100, OUTPUT_FNUMBER, OUTPUT_FOCAL35, ModelSpec
from .modelspec import POINT_RULES as POINT_RULE_NAMES
from .tolerance import ONE_STOP, WITHIN_20_PERCENT, Tolerance

_T = AUX_FEATURES.index("log2_exposure_time")
_HAS_T = AUX_FEATURES.index("has_exposure_time")
_ISO = AUX_FEATURES.index("log2_iso_over_100")
_HAS_ISO = AUX_FEATURES.index("has_iso")
_FLASH = AUX_FEATURES.index("flash_fired")


@dataclass(frozen=True)
class Estimate:
    """One photo's estimates in 35 mm-equivalent and FNumber units."""

    fnumber: float
    fnumber_confidence: float
    focal_length_35mm: float
    focal_length_confidence: float
    ev100: float | None
    lens_index: int | None = None  # which of the row's candidate lenses was chosen
    lens_confidence: float | None = None  # its posterior probability
    # the distribution the FNumber was read from, kept for the library's evidence (library.py)
    fnumber_probs: np.ndarray | None = field(default=None, compare=False, repr=False)


# Nominal FNumbers engraved on aperture rings, per stop scale.
STOP_SCALES: dict[str, tuple[float, ...]] = {
    "full": (0.7, 1.0, 1.4, 2.0, 2.8, 4.0, 5.6, 8.0, 11.0, 16.0, 22.0, 32.0, 45.0, 64.0),
    "half": (0.7, 0.85, 1.0, 1.2, 1.4, 1.7, 2.0, 2.4, 2.8, 3.3, 4.0, 4.8, 5.6, 6.7, 8.0, 9.5, 11.0, 13.0,
             16.0, 19.0, 22.0, 27.0, 32.0, 38.0, 45.0, 54.0, 64.0),
    "third": (0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.4, 1.6, 1.8, 2.0, 2.2, 2.5, 2.8, 3.2, 3.5, 4.0, 4.5, 5.0, 5.6,
              6.3, 7.1, 8.0, 9.0, 10.0, 11.0, 13.0, 14.0, 16.0, 18.0, 20.0, 22.0, 25.0, 29.0, 32.0, 36.0,
              40.0, 45.0, 51.0, 57.0, 64.0),
}
_NOMINAL_SLACK = 1.04  # engraved values are rounded: f/22 stands for 22.6


@dataclass(frozen=True)
class LensConstraint:
    """What a known lens makes physically possible, in the model's units.

    Focal lengths are 35 mm-equivalent (None: unknown, e.g. the body's crop factor is
    unknown); apertures are FNumbers from the widest (aperture_min) to the smallest.
    """

    focal_min: float | None = None
    focal_max: float | None = None
    aperture_min: float | None = None
    aperture_max: float | None = None
    stops: str | None = "full"

    @property
    def is_prime(self) -> bool:
        return self.focal_min is not None and self.focal_min == self.focal_max


def stop_scale(lo: float, hi: float, stops: str | None) -> np.ndarray:
    """The FNumbers a lens can be set to: its scale between its widest and smallest aperture.

    The widest and smallest apertures are always on it (an f/1.8 lens on a full-stop scale
    offers 1.8, 2, 2.8, ...).
    """
    scale = [v for v in STOP_SCALES.get(stops or "third", STOP_SCALES["third"])
             if lo / _NOMINAL_SLACK <= v <= hi * _NOMINAL_SLACK]
    if not scale or abs(np.log(scale[0] / lo)) > np.log(_NOMINAL_SLACK):
        scale.insert(0, lo)
    if abs(np.log(scale[-1] / hi)) > np.log(_NOMINAL_SLACK):
        scale.append(hi)
    return np.asarray(sorted(set(scale)), dtype=np.float64)


def constrain_fnumber(probs: np.ndarray, bins: np.ndarray, c: LensConstraint) -> tuple[np.ndarray, np.ndarray]:
    """One row's FNumber distribution moved onto the lens's stop scale.

    Every bin's mass goes to the nearest value on the scale; mass beyond the lens's range
    goes to its nearest end. The distribution is the model's uncertainty, not the truth's:
    "wider than f/1.8" from an f/1.8 lens means wide open, and dropping that mass as
    impossible pushed estimates toward small apertures (bench/lens_bench.py measured
    primes at 40% within one stop that way). Returns (values, probs).
    """
    lo = c.aperture_min or float(bins[0])
    hi = c.aperture_max or float(bins[-1])
    scale = stop_scale(lo, hi, c.stops) if c.stops else bins[(bins >= lo / _NOMINAL_SLACK) & (bins <= hi * _NOMINAL_SLACK)]
    if len(scale) == 0:
        scale = np.asarray([lo])
    nearest = np.abs(np.log(bins)[:, None] - np.log(scale)[None, :]).argmin(-1)
    out = np.zeros(len(scale))
    np.add.at(out, nearest, probs)
    total = out.sum()
    out = out / total if total > TINY else np.full(len(scale), 1.0 / len(scale))
    return scale, out


def _focal_window(bins: np.ndarray, c: LensConstraint) -> np.ndarray:
    """The focal bins a lens can produce: its range widened by half a bin (a mask)."""
    assert c.focal_min is not None and c.focal_max is not None
    half = np.sqrt(bins[1] / bins[0])
    mask = (bins >= c.focal_min / half) & (bins <= c.focal_max * half)
    if not mask.any():
        mask[np.abs(np.log(bins) - np.log(c.focal_min)).argmin()] = True
    return mask


def lens_posterior(probs: np.ndarray, bins: np.ndarray, candidates: Sequence[LensConstraint]) -> np.ndarray:
    """Each candidate lens's probability given one row's focal-length distribution.

    A lens's likelihood is the mean probability per bin over the focal lengths it can
    produce (a flat prior within its range), so a zoom does not win just by being wide.
    """
    scores = np.asarray([
        probs[_focal_window(bins, c)].mean() if c.focal_min is not None else probs.mean()
        for c in candidates
    ])
    total = scores.sum()
    return scores / total if total > 0 else np.full(len(candidates), 1.0 / len(candidates))


def _fnumber_on_scale(
    probs: np.ndarray, bins: np.ndarray, scale: np.ndarray, spec: ModelSpec
) -> float:
    """The model's own point rule and bias on its own bins, inside the lens's range, then
    the nearest value the lens offers.

    The same estimator as an unconstrained estimate, so declaring a lens only adds
    knowledge: taking the window mode on the stop scale instead (while the spec chose the
    median) put the Kodak compacts of bench/lens_bench.py a stop too small, f/7.1 for f/5.
    """
    allowed = np.flatnonzero((bins >= scale[0] / _NOMINAL_SLACK) & (bins <= scale[-1] * _NOMINAL_SLACK))
    if len(allowed) == 0:
        allowed = np.asarray([np.abs(np.log(bins) - np.log(scale[0])).argmin()])
    inside = np.clip(np.arange(len(bins)), allowed[0], allowed[-1])  # out-of-range mass to the nearest end
    clipped = np.zeros(len(bins))
    np.add.at(clipped, inside, probs)
    value, _ = point_for(spec, "fnumber", clipped[None, :], bins, ONE_STOP)
    value = np.clip(apply_bias(value, spec.bias.get("fnumber")), scale[0], scale[-1])
    return float(scale[np.abs(np.log(scale) - np.log(value[0])).argmin()])


def _constrained_row(
    f_probs: np.ndarray, f_bins: np.ndarray, l_probs: np.ndarray, l_bins: np.ndarray,
    candidates: Sequence[LensConstraint], spec: ModelSpec,
) -> tuple[float, float, float, float, int, float]:
    """(fnumber, its confidence, focal35, its confidence, lens index, lens confidence)."""
    posterior = lens_posterior(l_probs, l_bins, candidates)
    pick = int(posterior.argmax())
    chosen = candidates[pick]
    scale, s_probs = constrain_fnumber(f_probs, f_bins, chosen)
    fnumber = _fnumber_on_scale(f_probs, f_bins, scale, spec)
    # honest confidence: the chance the true FNumber is within a stop, over every candidate
    f_conf = 0.0
    for weight, c in zip(posterior, candidates):
        values, p = (scale, s_probs) if c is chosen else constrain_fnumber(f_probs, f_bins, c)
        f_conf += weight * p[ONE_STOP.hits(fnumber, values)].sum()
    if chosen.is_prime:
        focal, l_conf = float(chosen.focal_min), 1.0  # type: ignore[arg-type]
    elif chosen.focal_min is not None:
        window = np.where(_focal_window(l_bins, chosen), l_probs, 0.0)
        window = window / max(window.sum(), TINY)
        value, _ = point_for(spec, "focal35", window[None, :], l_bins, WITHIN_20_PERCENT)
        value = np.clip(apply_bias(value, spec.bias.get("focal35")), chosen.focal_min, chosen.focal_max)
        focal, l_conf = float(value[0]), float(mass_around(window[None, :], l_bins, value, WITHIN_20_PERCENT)[0])
    else:
        value, _ = point_for(spec, "focal35", l_probs[None, :], l_bins, WITHIN_20_PERCENT)
        value = apply_bias(value, spec.bias.get("focal35"))
        focal, l_conf = float(value[0]), float(mass_around(l_probs[None, :], l_bins, value, WITHIN_20_PERCENT)[0])
    return fnumber, min(f_conf, 1.0), focal, l_conf * float(posterior[pick]), pick, float(posterior[pick])


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    z = logits.astype(np.float64) / max(temperature, 1e-6)
    z -= z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def windowed_mass(probs: np.ndarray, bins: np.ndarray, tolerance: Tolerance) -> np.ndarray:
    """For each bin centre taken as the estimate, the mass of the bins its tolerance counts right."""
    log_bins = np.log(bins)
    inside = tolerance.holds(log_bins[None, :] - log_bins[:, None])  # [estimate, true]
    return probs @ inside.T.astype(probs.dtype)


def point_and_confidence(
    probs: np.ndarray, bins: np.ndarray, tolerance: Tolerance
) -> tuple[np.ndarray, np.ndarray]:
    """The estimate is the one whose tolerance window holds the most mass.

    Its confidence is that mass: the probability the true value is within tolerance.
    The estimate is refined so the window centres on its mass's log-weighted mean, so it
    is not stuck on a bin.
    """
    mass = windowed_mass(probs, bins, tolerance)
    best = mass.argmax(axis=-1)
    log_bins = np.log(bins)
    inside = tolerance.holds(log_bins[None, :] - log_bins[best][:, None])
    weights = probs * inside
    refined = np.exp((weights * log_bins).sum(-1) / np.maximum(weights.sum(-1), TINY) - tolerance.centre)
    return refined, mass[np.arange(len(best)), best]


def log_median(probs: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """Each row's median in log space, interpolated within its bin."""
    log_bins = np.log(bins)
    cumulative = np.cumsum(probs, axis=-1)
    rows = np.arange(len(probs))
    index = np.minimum((cumulative < 0.5).sum(-1), len(bins) - 1)
    before = np.where(index > 0, cumulative[rows, np.maximum(index - 1, 0)], 0.0)
    fraction = np.clip((0.5 - before) / np.maximum(probs[rows, index], TINY), 0.0, 1.0)
    return log_bins[index] + (fraction - 0.5) * np.diff(log_bins).mean()


def median_point(probs: np.ndarray, bins: np.ndarray, tolerance: Tolerance) -> tuple[np.ndarray, np.ndarray]:
    """The estimate puts the window's centre on the distribution's median in log space (for
    a symmetric tolerance: the median itself); confidence is the mass within tolerance of
    it. Robust where a broad distribution has two peaks far apart."""
    value = np.exp(log_median(probs, bins) - tolerance.centre)
    return value, mass_around(probs, bins, value, tolerance)


def mape_point(probs: np.ndarray, bins: np.ndarray, tolerance: Tolerance) -> tuple[np.ndarray, np.ndarray]:
    """The estimate with the least expected percentage error: the median with each bin
    weighted by 1/value, since an error counts in proportion to the true value it misses.

    Where a zoom's distribution has a wide and a long peak, the window mode may pick the
    long one and miss a wide shot by 200%; this rule leans to the short side, where a miss
    costs at most 100%. Confidence is the mass within tolerance of it.
    """
    weighted = probs / bins[None, :]
    weighted = weighted / np.maximum(weighted.sum(-1, keepdims=True), 1e-300)
    value = np.exp(log_median(weighted, bins))
    return value, mass_around(probs, bins, value, tolerance)


def mass_around(probs: np.ndarray, bins: np.ndarray, values: np.ndarray, tolerance: Tolerance) -> np.ndarray:
    """Each row's mass within tolerance of its value: the confidence of that estimate."""
    inside = tolerance.holds(np.log(bins)[None, :] - np.log(values)[:, None])
    return (probs * inside).sum(-1)


POINT_RULES = {"mode": point_and_confidence, "median": median_point, "mape": mape_point}
assert tuple(POINT_RULES) == POINT_RULE_NAMES


def point_for(spec: ModelSpec, target: str, probs: np.ndarray, bins: np.ndarray,
              tolerance: Tolerance) -> tuple[np.ndarray, np.ndarray]:
    """The point rule the trainer chose for this target on its calibration photos."""
    return POINT_RULES[spec.point.get(target, "mode")](probs, bins, tolerance)


def exposure_fnumber_probs(
    ev_probs: np.ndarray, ev_bins: np.ndarray, aux: np.ndarray, f_bins: np.ndarray
) -> np.ndarray:
    """Map a distribution over scene EV100 to one over FNumber via N^2 = t * 2^EV * ISO/100.

    Rows without exposure time or ISO, or whose flash fired, get a flat distribution (no
    information).
    """
    log2_n2 = ev_bins[None, :] + aux[:, _T : _T + 1] + aux[:, _ISO : _ISO + 1]
    log2_n = log2_n2 / 2.0
    edges = np.log2(f_bins)
    nearest = np.abs(log2_n[:, :, None] - edges[None, None, :]).argmin(-1)
    out = np.zeros((len(aux), len(f_bins)))
    for row in range(len(aux)):
        np.add.at(out[row], nearest[row], ev_probs[row])
    # the equation holds for the light the meter saw: a flash set its own exposure
    known = (aux[:, _HAS_T] > 0) & (aux[:, _HAS_ISO] > 0) & (aux[:, _FLASH] <= 0)
    out[~known] = 1.0 / len(f_bins)
    out = out + 1e-6  # never let one route veto the other outright
    return out / out.sum(-1, keepdims=True)


def fnumber_distribution(
    spec: ModelSpec, f_logits: np.ndarray, ev_logits: np.ndarray, aux: np.ndarray, mode: str | None = None
) -> np.ndarray:
    """The FNumber distribution from depth of field, exposure, or both (spec.combine)."""
    mode = mode or spec.combine
    f_bins = np.asarray(spec.fnumber_bins)
    dof = to_fnumber(spec, softmax(f_logits, spec.temperature.get("fnumber", 1.0)), aux)
    if mode == "dof":
        return dof
    ev = softmax(ev_logits, spec.temperature.get("ev100", 1.0))
    exposure = exposure_fnumber_probs(ev, np.asarray(spec.ev100_bins), aux, f_bins)
    if mode == "exposure":
        return exposure
    combined = dof * exposure
    return combined / combined.sum(-1, keepdims=True)


def distributions(spec: ModelSpec, outputs: dict[str, np.ndarray], aux: np.ndarray, mode: str | None = None,
                  priors: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The FNumber and focal-length distributions estimates are read from (route,
    temperatures, label prior); calibration scores the same ones."""
    priors = priors or {}
    f_probs = fnumber_distribution(spec, outputs[OUTPUT_FNUMBER], outputs[OUTPUT_EV100], aux, mode)
    l_probs = softmax(outputs[OUTPUT_FOCAL35], spec.temperature.get("focal35", 1.0))
    return (with_prior(spec, "fnumber", f_probs, aux, priors.get("fnumber")),
            with_prior(spec, "focal35", l_probs, aux, priors.get("focal35")))


def estimate(
    spec: ModelSpec,
    outputs: dict[str, np.ndarray],
    aux: np.ndarray,
    mode: str | None = None,
    constraints: Sequence[Sequence[LensConstraint]] | None = None,
    priors: dict[str, np.ndarray] | None = None,
) -> list[Estimate]:
    """Estimates for a batch, from the model's raw outputs and the auxiliary inputs.

    constraints, when given, holds each row's candidate lenses (empty: none known). They
    act on the distributions before the point estimates and confidences are taken.
    priors overrides the spec's label prior rows per target (for calibration only).
    """
    f_probs, l_probs = distributions(spec, outputs, aux, mode, priors)
    f_val, _ = point_for(spec, "fnumber", f_probs, np.asarray(spec.fnumber_bins), ONE_STOP)
    l_val, _ = point_for(spec, "focal35", l_probs, np.asarray(spec.focal35_bins), WITHIN_20_PERCENT)
    # the confidence speaks of the estimate the user gets: the window moves with the bias
    f_val = apply_bias(f_val, spec.bias.get("fnumber"))
    l_val = apply_bias(l_val, spec.bias.get("focal35"))
    f_shift, l_shift = (confidence_shifts(spec, t, aux) for t in ("fnumber", "focal35"))
    f_conf = shift_confidence(mass_around(f_probs, np.asarray(spec.fnumber_bins), f_val, ONE_STOP), f_shift)
    l_conf = shift_confidence(mass_around(l_probs, np.asarray(spec.focal35_bins), l_val, WITHIN_20_PERCENT), l_shift)
    ev_probs = softmax(outputs[OUTPUT_EV100], spec.temperature.get("ev100", 1.0))
    ev_mean = ev_probs @ np.asarray(spec.ev100_bins)
    results = []
    for i in range(len(aux)):
        candidates = constraints[i] if constraints else ()
        if not candidates:
            results.append(Estimate(
                fnumber=round(float(f_val[i]), 2),
                fnumber_confidence=round(float(f_conf[i]), 4),
                focal_length_35mm=round(float(l_val[i]), 1),
                focal_length_confidence=round(float(l_conf[i]), 4),
                ev100=round(float(ev_mean[i]), 2),
                fnumber_probs=f_probs[i],
            ))
            continue
        fn, fc, fl, lc, pick, pc = _constrained_row(
            f_probs[i], np.asarray(spec.fnumber_bins), l_probs[i], np.asarray(spec.focal35_bins), candidates, spec
        )
        results.append(Estimate(
            fnumber=round(fn, 2), fnumber_confidence=round(float(shift_confidence(fc, f_shift[i])), 4),
            focal_length_35mm=round(fl, 1), focal_length_confidence=round(float(shift_confidence(lc, l_shift[i])), 4),
            ev100=round(float(ev_mean[i]), 2), lens_index=pick, lens_confidence=round(pc, 4),
            fnumber_probs=f_probs[i],  # the model's own, before the lens: the library weighs it again
        ))
    return results
