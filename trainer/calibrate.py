"""Fit on validation what the spec carries: temperatures, the combine route, range biases.

All choices are scored with `estimate.estimate`, the inference code, on validation rows
only; the test split never reaches this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from ..equivalent import dof_bins, dof_labels
from ..calibration import sensor_class, shift_confidence
from ..estimate import distributions, estimate, softmax
from ..modelspec import COMBINE_MODES, OUTPUT_EV100, OUTPUT_FNUMBER, OUTPUT_FOCAL35, ModelSpec
from ..tolerance import ONE_STOP, WITHIN_20_PERCENT
from .evaluate import baseline_figures, model_figures, predictions

TEMPERATURES = np.exp(np.linspace(np.log(0.25), np.log(4.0), 33))
SHIFTS = np.linspace(-2.0, 2.0, 81)  # log-odds offsets of the confidences, 0.05 apart
# A Gaussian prior on the offset (standard deviation, log-odds): a library with a few dozen
# labeled photos must not swing its confidences on them alone; on a hundred-odd it hardly acts.
SHIFT_PRIOR_SD = 1.0
MIN_PER_RANGE = 5
# The point rules each target may choose from on the calibration photos (estimate.POINT_RULES):
# the window mode (most often within tolerance), the log median, the least expected
# percentage error. The choice goes to the rule furthest ahead of the training-median
# baseline over the figures a card reports (point_score): the window mode kept the most
# focal lengths within 20% but put zooms' wide shots at the long end, so its focal MAPE on
# the calibration photos lost to the baseline's on both split seeds run (bench/point_bench.py, since removed).
TARGETS = ("fnumber", "focal35")
POINT_CHOICES = {"fnumber": ("mode", "median", "mape"), "focal35": ("mode", "median", "mape")}
POINT_FIGURES = {"fnumber": ("within_one_stop", "mape", "mae", "msle", "mse"),
                 "focal35": ("within_20_percent", "mape", "mae", "msle", "mse")}
SHRINK = 10.0  # a range's bias factor is shrunk toward 1 as if it had SHRINK more photos at 1
# How much of the sensor-size label prior (prior.py) is mixed into each distribution; 0 is
# the model alone. Chosen per target with the point rule, on the calibration photos. The
# model keeps at least half: calibration photos asked for ever more prior (their MSLE fell
# to 0.7), and on the dev-only photos (bodies never trained on) 0.7 halved FNumber
# within-one-stop (0.68 -> 0.33) while 0.1-0.5 cut MAPE, MSLE and MSE against 0
# (runs/starter: 0.5 gave MAPE 35.6 vs 36.8, MSE 9.4 vs 13.8, focal within 20% 0.72 vs 0.67).
PRIOR_WEIGHTS = (0.0, 0.1, 0.2, 0.35, 0.5)
Priors = dict[str, np.ndarray] | None


def nearest(bins: np.ndarray, values: np.ndarray, log: bool = True) -> np.ndarray:
    a, b = (np.log(bins), np.log(values)) if log else (bins, values)
    return np.abs(a[None, :] - b[:, None]).argmin(1)


def nll(probs: np.ndarray, index: np.ndarray) -> float:
    return float(-np.mean(np.log(probs[np.arange(len(index)), index] + 1e-12)))


def fit_temperature(logits: np.ndarray, index: np.ndarray) -> float:
    """The temperature with the lowest negative log-likelihood of the true bin."""
    scores = [nll(softmax(logits, t), index) for t in TEMPERATURES]
    return float(TEMPERATURES[int(np.argmin(scores))])


def _dof_temperature(spec: ModelSpec, logits: np.ndarray, f_true: np.ndarray, aux: np.ndarray) -> float:
    """The depth-of-field head's temperature, on the rows whose label exists in its units."""
    labels = dof_labels(spec, f_true, aux)
    known = ~np.isnan(labels)
    return fit_temperature(logits[known], nearest(dof_bins(spec), labels[known])) if known.any() else 1.0


def route_scores(spec: ModelSpec, outputs: dict[str, np.ndarray], aux: np.ndarray,
                 f_true: np.ndarray, l_true: np.ndarray) -> dict[str, dict]:
    """Validation figures of each FNumber route (dof, exposure, product)."""
    return {mode: model_figures(estimate(spec, outputs, aux, mode), f_true, l_true)["fnumber"]
            for mode in COMBINE_MODES}


def route_key(figures: dict[str, float]) -> tuple[float, float]:
    """Rank routes by the share within one stop, then by MSLE."""
    return (-figures["within_one_stop"], figures["msle"])


def fit_bias(pred: np.ndarray, true: np.ndarray, ranges: int = 3) -> list[list[float]]:
    """Per range of the estimate, the shrunk median ratio true/estimate (empty if too few photos)."""
    if len(pred) < MIN_PER_RANGE * ranges:
        ranges = max(1, len(pred) // MIN_PER_RANGE)
    if len(pred) < MIN_PER_RANGE:
        return []
    bounds = list(np.quantile(pred, np.linspace(0, 1, ranges + 1)[1:-1])) + [float("inf")]
    table, low = [], -np.inf
    for bound in bounds:
        mask = (pred > low) & (pred <= bound)
        n = int(mask.sum())
        log_ratio = float(np.median(np.log(true[mask] / pred[mask]))) if n else 0.0
        factor = float(np.exp(log_ratio * n / (n + SHRINK)))
        table.append([float(bound) if np.isfinite(bound) else 1e9, round(factor, 4)])
        low = bound
    return table


def calibrate(spec: ModelSpec, outputs: dict[str, np.ndarray], aux: np.ndarray,
              f_true: np.ndarray, l_true: np.ndarray, ev_true: np.ndarray,
              priors: Priors = None,
              choices: dict[str, tuple[str, ...]] = POINT_CHOICES,
              class_targets: Sequence[str] = ()) -> tuple[ModelSpec, dict]:
    """Temperatures by NLL, the route by validation figures, then per target the point rule
    and prior weight whose finished pipeline (biases, confidence temperatures) fits best.

    priors: each calibration row's label prior (leave-one-out for training photos); the
    spec's own prior serves the rows otherwise. choices: the point rules each target may take.
    """
    f_bins, l_bins, e_bins = (np.asarray(b) for b in (spec.fnumber_bins, spec.focal35_bins, spec.ev100_bins))
    has_ev = ~np.isnan(ev_true)
    temps = {
        "fnumber": _dof_temperature(spec, outputs[OUTPUT_FNUMBER], f_true, aux),
        "focal35": fit_temperature(outputs[OUTPUT_FOCAL35], nearest(l_bins, l_true)),
        "ev100": fit_temperature(outputs[OUTPUT_EV100][has_ev], nearest(e_bins, ev_true[has_ev], log=False))
        if has_ev.any() else 1.0,
    }
    spec = replace(spec, temperature=temps, bias={}, prior_weight={}, confidence_shift={}, class_shift={})
    routes = route_scores(spec, outputs, aux, f_true, l_true)
    mode = min(routes, key=lambda m: route_key(routes[m]))
    spec = replace(spec, combine=mode)
    weights = PRIOR_WEIGHTS if spec.prior else (0.0,)
    # per target, the prior weight under which the true values are most likely (the log
    # score weighs every photo's whole distribution, where one point's squared log error
    # let a few far-off long lenses decide), then the point rule by point_score
    nlls = {w: distribution_nll(replace(spec, prior_weight={t: w for t in TARGETS}), outputs, aux, f_true, l_true, priors)
            for w in weights}
    weight = {t: min(weights, key=lambda w: nlls[w][i]) for i, t in enumerate(TARGETS)}
    rules = sorted({rule for allowed in choices.values() for rule in allowed})
    finished = {rule: _finish(replace(spec, point={t: rule for t in TARGETS}, prior_weight=weight),
                              outputs, aux, f_true, l_true, priors) for rule in rules}
    scores = {rule: model_figures(estimate(s, outputs, aux, priors=priors), f_true, l_true) for rule, s in finished.items()}
    baseline = baseline_figures(f_true, l_true, f_true, l_true)
    points = {rule: {t: point_score(scores[rule][t], baseline[t], t) for t in TARGETS} for rule in rules}
    point = {t: min(choices[t], key=lambda rule: points[rule][t]) for t in TARGETS}
    spec = replace(spec, point=point, prior_weight=weight,
                   bias={t: finished[point[t]].bias[t] for t in TARGETS},
                   temperature={**temps, **{t: finished[point[t]].temperature[t] for t in TARGETS}})
    spec = replace(spec, confidence_shift=fit_confidence_shift(spec, outputs, aux, f_true, l_true, priors))
    spec = replace(spec, class_shift=fit_class_shift(spec, outputs, aux, f_true, l_true, priors, class_targets))
    return spec, {"confidence_shift": spec.confidence_shift, "class_shift": spec.class_shift,
                  "crop_bounds": spec.prior.get("crop_bounds", []), "routes_validation": routes, "combine": mode,
                  "point": spec.point, "temperature": spec.temperature, "bias": spec.bias,
                  "prior_weight": spec.prior_weight, "prior_pool": spec.prior_pool,
                  "prior_weight_nll": {str(w): list(v) for w, v in nlls.items()}, "point_score": points}


def point_score(figures: dict[str, float], baseline: dict[str, float], target: str) -> float:
    """How far a rule's figures are ahead of the training-median baseline's: the mean log
    ratio of its errors to the baseline's, the share within tolerance inverted. Below 0 is
    ahead. Every figure a card reports counts alike, so no one figure's scale decides."""
    hit, *errors = POINT_FIGURES[target]
    ratios = [np.log(max(baseline[hit], 1e-3) / max(figures[hit], 1e-3))]
    ratios += [np.log(max(figures[k], 1e-9) / max(baseline[k], 1e-9)) for k in errors]
    return round(float(np.mean(ratios)), 4)


def distribution_nll(spec: ModelSpec, outputs: dict[str, np.ndarray], aux: np.ndarray, f_true: np.ndarray,
                     l_true: np.ndarray, priors: Priors = None) -> tuple[float, float]:
    """Per target, the mean negative log probability of the true value's bin, as estimate()
    builds the distribution (route, temperature, label prior)."""
    f_bins, l_bins = np.asarray(spec.fnumber_bins), np.asarray(spec.focal35_bins)
    f, l = distributions(spec, outputs, aux, priors=priors)
    return round(nll(f, nearest(f_bins, f_true)), 4), round(nll(l, nearest(l_bins, l_true)), 4)


def _finish(spec: ModelSpec, outputs: dict[str, np.ndarray], aux: np.ndarray,
            f_true: np.ndarray, l_true: np.ndarray, priors: Priors = None) -> ModelSpec:
    """Range biases, then confidence temperatures, for one point rule and prior weight."""
    raw = estimate(spec, outputs, aux, priors=priors)
    spec = replace(spec, bias={
        "fnumber": fit_bias(np.asarray([e.fnumber for e in raw]), f_true),
        "focal35": fit_bias(np.asarray([e.focal_length_35mm for e in raw]), l_true),
    })
    return replace(spec, temperature=fit_confidence_temperatures(spec, outputs, aux, f_true, l_true, priors))


def confidence_events(spec: ModelSpec, outputs: dict[str, np.ndarray], aux: np.ndarray, f_true: np.ndarray,
                      l_true: np.ndarray, priors: Priors = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per target, each photo's confidence and whether its estimate was within tolerance."""
    f, f_conf, l, l_conf = predictions(estimate(spec, outputs, aux, priors=priors))
    return {"fnumber": (f_conf, ONE_STOP.hits(f, f_true).astype(np.float64)),
            "focal35": (l_conf, WITHIN_20_PERCENT.hits(l, l_true).astype(np.float64))}


def _confidence_brier(spec: ModelSpec, outputs: dict[str, np.ndarray], aux: np.ndarray,
                      f_true: np.ndarray, l_true: np.ndarray, priors: Priors = None) -> tuple[float, float]:
    """Brier score of each confidence as the probability that the estimate is within tolerance."""
    events = confidence_events(spec, outputs, aux, f_true, l_true, priors)
    return tuple(float(np.mean((conf - hit) ** 2)) for conf, hit in events.values())  # type: ignore[return-value]


def log_loss(confidence: np.ndarray, hit: np.ndarray) -> float:
    p = np.clip(confidence, 1e-6, 1 - 1e-6)
    return float(-np.mean(hit * np.log(p) + (1 - hit) * np.log(1 - p)))


def fit_confidence_shift(spec: ModelSpec, outputs: dict[str, np.ndarray], aux: np.ndarray, f_true: np.ndarray,
                         l_true: np.ndarray, priors: Priors = None) -> dict[str, float]:
    """Per target, the log-odds offset under which the confidences best predict the hits.

    Mixing in the label prior caps the mass a window can hold, so a temperature alone left
    the starter model's FNumber confidences averaging 0.58 where 0.71 of its test estimates
    were within a stop (its card, before and after). One offset per target (a Platt scaling
    with its slope fixed at 1) moves no estimate. The offset is the posterior mode under
    SHIFT_PRIOR_SD, so few photos move it less.
    """
    events = confidence_events(replace(spec, confidence_shift={}), outputs, aux, f_true, l_true, priors)
    return {target: best_shift(conf, hit) for target, (conf, hit) in events.items()}


def shift_groups(spec: ModelSpec) -> list[int]:
    """Per sensor-size class of the label prior, its group: 0 for the smallest sensors (phones
    and compacts, one fixed lens each), 1 for every larger class (interchangeable lenses and
    long zooms), -1 for an unknown crop factor. Few photos fall in each larger class alone."""
    larger = len(spec.prior.get("crop_bounds", []))
    return [1] * larger + [0, -1]


def fit_class_shift(spec: ModelSpec, outputs: dict[str, np.ndarray], aux: np.ndarray, f_true: np.ndarray,
                    l_true: np.ndarray, priors: Priors = None, targets: Sequence[str] = ()) -> dict[str, list[float]]:
    """Per target asked for, a log-odds offset per sensor-size class, on top of the overall one.

    Each group's offset is best_shift over its own calibration photos (so its prior holds a
    group of a few photos near 0); an unknown crop factor keeps the overall offset alone.
    On the three split seeds of bench/class_shift_bench.py, since removed, the larger sensors' focal-length
    confidences averaged 0.34-0.44 on calibration photos of which 0-12% were within 20%.
    """
    if not targets or "crop_bounds" not in spec.prior:
        return {}
    rows = row_groups(spec, aux)
    events = confidence_events(replace(spec, class_shift={}), outputs, aux, f_true, l_true, priors)
    out = {}
    for target in targets:
        offset = group_offsets(*events[target], rows)
        out[target] = [offset.get(g, 0.0) for g in shift_groups(spec)]
    return out


def row_groups(spec: ModelSpec, aux: np.ndarray) -> np.ndarray:
    """Each row's group (shift_groups) by its sensor-size class."""
    return np.asarray(shift_groups(spec))[sensor_class(aux, spec.prior["crop_bounds"])]


def group_offsets(confidence: np.ndarray, hit: np.ndarray, groups: np.ndarray) -> dict[int, float]:
    """Per group that has rows (0 and 1; -1 is never fitted), best_shift over its own rows."""
    return {g: best_shift(confidence[groups == g], hit[groups == g]) for g in (0, 1) if (groups == g).any()}


def best_shift(confidence: np.ndarray, hit: np.ndarray) -> float:
    """The offset on SHIFTS with the lowest log loss plus the Gaussian prior's penalty."""
    def cost(b: float) -> float:
        return log_loss(shift_confidence(confidence, b), hit) + b * b / (2 * SHIFT_PRIOR_SD**2 * max(len(hit), 1))

    return round(float(min(SHIFTS, key=cost)), 4)


def fit_confidence_temperatures(spec: ModelSpec, outputs: dict[str, np.ndarray], aux: np.ndarray,
                                f_true: np.ndarray, l_true: np.ndarray, priors: Priors = None) -> dict[str, float]:
    """Temperatures that make the confidences honest: "0.8" should hit about 80% of the time.

    NLL of the exact bin is the wrong target here: the confidence is the mass within one
    stop (20%), so each temperature minimises the Brier score of that event on validation.
    """
    best = {"fnumber": (float("inf"), 1.0), "focal35": (float("inf"), 1.0)}
    for t in TEMPERATURES:
        trial = replace(spec, temperature={**spec.temperature, "fnumber": float(t), "focal35": float(t)})
        for name, score in zip(("fnumber", "focal35"), _confidence_brier(trial, outputs, aux, f_true, l_true, priors)):
            if score < best[name][0]:
                best[name] = (score, float(t))
    return {**spec.temperature, "fnumber": best["fnumber"][1], "focal35": best["focal35"][1]}
