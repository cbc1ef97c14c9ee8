"""Held-out figures for a model card: errors in real units, tolerance shares, calibration.

Estimates always come from `photo_tagger.estimate.estimate`, the inference path.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from ..estimate import Estimate
from ..tolerance import ONE_STOP, THIRD_STOP, WITHIN_20_PERCENT

APERTURE_BINS = (2.8, 4.9)  # below f/2.8, f/2.8 to f/4.9, above f/4.9


def errors(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """MAPE (%), MAE, MSLE and MSE in the target's real units."""
    return {
        "mape": float(np.mean(np.abs(pred - true) / true) * 100),
        "mae": float(np.mean(np.abs(pred - true))),
        "msle": float(np.mean((np.log1p(pred) - np.log1p(true)) ** 2)),
        "mse": float(np.mean((pred - true) ** 2)),
    }


def ece(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: |hit rate - mean confidence| weighted over confidence bins."""
    return float(_ece(confidence, np.asarray(correct, dtype=np.float64)[None, :], bins)[0])


def _ece(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> np.ndarray:
    """ECE of each row of outcomes `correct` [trials, n] against the same confidences [n]."""
    index = np.clip(np.digitize(confidence, np.linspace(0, 1, bins + 1)) - 1, 0, bins - 1)
    total = np.zeros(len(correct))
    for b in np.unique(index):
        mask = index == b
        total += mask.mean() * np.abs(correct[:, mask].mean(1) - confidence[mask].mean())
    return total


def brier(confidence: np.ndarray, correct: np.ndarray) -> float:
    """Mean squared gap between each confidence and its outcome: a proper score that rewards
    confidences both honest and telling apart good estimates from bad. A constant confidence
    scores ECE near 0 but Brier p(1 - p); only a model whose confidences discriminate beats it."""
    return float(np.mean((confidence - np.asarray(correct, dtype=np.float64)) ** 2))


def ranking(confidence: np.ndarray, correct: np.ndarray) -> float:
    """The chance that a right estimate carries a higher confidence than a wrong one (ties
    count half): 0.5 means the confidence cannot tell them apart, which no recalibration
    of its scale can fix. NaN when every estimate is right, or every one wrong."""
    hit = np.asarray(correct, dtype=bool)
    n_hit, n_miss = int(hit.sum()), int((~hit).sum())
    if not n_hit or not n_miss:
        return float("nan")
    _, inverse, counts = np.unique(confidence, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]  # 1-based, ties averaged
    return float((ranks[hit].sum() - n_hit * (n_hit + 1) / 2.0) / (n_hit * n_miss))


def ece_noise(confidence: np.ndarray, trials: int = 2000, seed: int = 0) -> float:
    """The ECE a perfectly calibrated model with these confidences would still show on this
    many photos (95th percentile over simulated outcomes): on a few dozen photos an ECE
    below it is no evidence of miscalibration, one above it is."""
    if len(confidence) == 0:
        return float("nan")
    rng = np.random.default_rng(seed)
    hits = (rng.random((trials, len(confidence))) < confidence[None, :]).astype(np.float64)
    return float(np.percentile(_ece(confidence, hits), 95))


def aperture_class(values: np.ndarray) -> np.ndarray:
    return np.digitize(values, APERTURE_BINS)


def figures(f_pred: np.ndarray, f_conf: np.ndarray, l_pred: np.ndarray, l_conf: np.ndarray,
            f_true: np.ndarray, l_true: np.ndarray, noise: bool = True) -> dict[str, dict[str, float]]:
    """Every headline figure for FNumber and 35 mm-equivalent focal length (noise=False skips
    the simulated ECE band, which resampling loops do not need)."""
    f_hit = ONE_STOP.hits(f_pred, f_true)
    l_hit = WITHIN_20_PERCENT.hits(l_pred, l_true)  # also the event the confidence speaks of
    fnumber = {**errors(f_pred, f_true),
               "within_one_stop": float(f_hit.mean()),
               "within_third_stop": float(THIRD_STOP.hits(f_pred, f_true).mean()),
               "aperture_3bin_accuracy": float((aperture_class(f_pred) == aperture_class(f_true)).mean()),
               "ece": ece(f_conf, f_hit), "ece_p95_if_calibrated": ece_noise(f_conf) if noise else np.nan, "brier": brier(f_conf, f_hit),
               "auc": ranking(f_conf, f_hit), "mean_confidence": float(f_conf.mean())}
    focal = {**errors(l_pred, l_true),
             "within_20_percent": float(l_hit.mean()),
             "within_one_stop": float(ONE_STOP.hits(l_pred, l_true).mean()),
             "ece": ece(l_conf, l_hit), "ece_p95_if_calibrated": ece_noise(l_conf) if noise else np.nan, "brier": brier(l_conf, l_hit),
             "auc": ranking(l_conf, l_hit), "mean_confidence": float(l_conf.mean())}
    return {"fnumber": _round(fnumber), "focal35": _round(focal), "n": len(f_true)}  # type: ignore[dict-item]


Predictions = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # FNumber, its confidence, focal, its confidence


def predictions(estimates: Sequence[Estimate]) -> Predictions:
    return (np.asarray([e.fnumber for e in estimates]), np.asarray([e.fnumber_confidence for e in estimates]),
            np.asarray([e.focal_length_35mm for e in estimates]),
            np.asarray([e.focal_length_confidence for e in estimates]))


def model_figures(estimates: Sequence[Estimate], f_true: np.ndarray, l_true: np.ndarray) -> dict:
    return figures(*predictions(estimates), f_true, l_true)


def baseline_predictions(train_f: np.ndarray, train_l: np.ndarray, n: int) -> Predictions:
    """The trivial model: always the training median, with its training hit rate as confidence."""
    f_med, l_med = float(np.median(train_f)), float(np.median(train_l))
    f_conf = float(ONE_STOP.hits(np.full_like(train_f, f_med), train_f).mean())
    l_conf = float(WITHIN_20_PERCENT.hits(np.full_like(train_l, l_med), train_l).mean())
    return np.full(n, f_med), np.full(n, f_conf), np.full(n, l_med), np.full(n, l_conf)


def baseline_figures(train_f: np.ndarray, train_l: np.ndarray, f_true: np.ndarray, l_true: np.ndarray) -> dict:
    base = baseline_predictions(train_f, train_l, len(f_true))
    out = figures(*base, f_true, l_true)
    out["median"] = {"fnumber": float(np.median(train_f)), "focal35": float(np.median(train_l))}
    return out


def difference_intervals(model: Predictions, baseline: Predictions, f_true: np.ndarray, l_true: np.ndarray,
                         groups: Sequence[object], trials: int = 2000, seed: int = 0) -> dict[str, dict[str, list[float]]]:
    """Per figure, the 95% interval of model minus baseline over test sets resampled by shot
    (copies of one photo move together). On a few dozen photos one hard photo can tip a
    figure either way; an interval that spans zero says the test split cannot tell them apart.
    ECE gets none: resamples repeat photos, which inflates it for varied confidences and not
    for the baseline's constant one (its noise band, ece_noise, is the fair yardstick).
    One shot gets none at all: every resample is that shot again, and the single value it
    would give as an interval would look like certainty."""
    members: dict[object, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    shots = list(members.values())
    if len(shots) < 2:
        return {}
    rng = np.random.default_rng(seed)
    draws: dict[tuple[str, str], list[float]] = defaultdict(list)
    for _ in range(trials):
        idx = np.concatenate([shots[k] for k in rng.integers(0, len(shots), len(shots))])
        m = figures(*(a[idx] for a in model), f_true[idx], l_true[idx], noise=False)
        b = figures(*(a[idx] for a in baseline), f_true[idx], l_true[idx], noise=False)
        for target in ("fnumber", "focal35"):
            for key, value in m[target].items():
                gap = value - b[target][key]  # NaN where a resample leaves one side nothing to rank
                if np.isfinite(gap) and key not in ("ece", "ece_p95_if_calibrated"):
                    draws[(target, key)].append(gap)
    out: dict[str, dict[str, list[float]]] = {"fnumber": {}, "focal35": {}}
    for (target, key), diffs in draws.items():
        out[target][key] = [round(float(v), 4) for v in np.percentile(diffs, [2.5, 97.5])]
    return out


def per_body(bodies: Sequence[str], estimates: Sequence[Estimate], f_true: np.ndarray,
             l_true: np.ndarray) -> dict[str, dict[str, float]]:
    """Count, FNumber-within-one-stop and focal-within-20% per camera body."""
    rows: dict[str, list[int]] = defaultdict(list)
    for i, body in enumerate(bodies):
        rows[body].append(i)
    out = {}
    for body, idx in sorted(rows.items(), key=lambda kv: -len(kv[1])):
        f = np.asarray([estimates[i].fnumber for i in idx])
        l = np.asarray([estimates[i].focal_length_35mm for i in idx])
        out[body] = {"n": len(idx),
                     "fnumber_within_one_stop": round(float(ONE_STOP.hits(f, f_true[idx]).mean()), 3),
                     "focal35_within_20_percent": round(float(WITHIN_20_PERCENT.hits(l, l_true[idx]).mean()), 3)}
    return out


def body_means(table: dict[str, dict[str, float]]) -> dict[str, float]:
    """per_body's hit rates averaged over bodies, each body one case: a long series from one
    body (the dev-only photos hold a 37-photo one) moves them by one body, not by 37 photos."""
    return {key: round(float(np.mean([row[key] for row in table.values()])), 3)
            for key in ("fnumber_within_one_stop", "focal35_within_20_percent")}


def _round(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in values.items()}
