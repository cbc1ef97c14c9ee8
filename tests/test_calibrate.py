"""Confidence calibration: the log-odds shift fitted on calibration photos."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from photo_tagger.errors import ModelError
from photo_tagger.estimate import estimate, shift_confidence
from photo_tagger.modelspec import AUX_FEATURES, OUTPUT_EV100, OUTPUT_FNUMBER, OUTPUT_FOCAL35, ModelSpec, default_spec
from photo_tagger.trainer import calibrate as calib


def _rows(rng: np.random.Generator, n: int, hit_rate: float, peak: float):
    """n photos whose distributions put `peak` of their mass on one bin and spread the rest;
    the truth is that bin for a `hit_rate` share of them and four stops off otherwise."""
    spec = replace(default_spec("t"), combine="dof", point={"fnumber": "mode", "focal35": "mode"})
    f_bins, l_bins = np.asarray(spec.fnumber_bins), np.asarray(spec.focal35_bins)
    f_at = rng.integers(6, 18, n)  # f/2 .. f/8
    l_at = rng.integers(10, 30, n)

    def logits(bins: np.ndarray, at: np.ndarray) -> np.ndarray:
        probs = np.full((n, len(bins)), (1 - peak) / (len(bins) - 1))
        probs[np.arange(n), at] = peak
        return np.log(probs)

    outputs = {OUTPUT_FNUMBER: logits(f_bins, f_at), OUTPUT_FOCAL35: logits(l_bins, l_at),
               OUTPUT_EV100: np.zeros((n, len(spec.ev100_bins)))}
    hit = rng.random(n) < hit_rate
    f_true = np.where(hit, f_bins[f_at], f_bins[f_at] * 4.0)
    l_true = np.where(hit, l_bins[l_at], l_bins[l_at] * 4.0)
    return spec, outputs, np.zeros((n, len(AUX_FEATURES)), np.float32), f_true, l_true


def test_under_confident_distributions_get_a_shift_that_makes_their_confidences_honest():
    rng = np.random.default_rng(0)
    spec, outputs, aux, f_true, l_true = _rows(rng, 600, hit_rate=0.8, peak=0.5)
    before = calib.confidence_events(spec, outputs, aux, f_true, l_true)
    assert before["fnumber"][0].mean() < 0.6 < 0.75 < before["fnumber"][1].mean()  # says ~0.55, hits ~0.8
    shift = calib.fit_confidence_shift(spec, outputs, aux, f_true, l_true)
    assert shift["fnumber"] > 0.8 and shift["focal35"] > 0.8
    after = calib.confidence_events(replace(spec, confidence_shift=shift), outputs, aux, f_true, l_true)
    for target in ("fnumber", "focal35"):
        conf, hit = after[target]
        assert conf.mean() == pytest.approx(hit.mean(), abs=0.03)
        assert np.array_equal(hit, before[target][1])  # the shift moves no estimate


def test_honest_confidences_keep_a_shift_near_zero():
    """Every photo here gets the same confidence c and hits at rate h: the best offset is
    exactly logit(h) - logit(c), about 0 for FNumber (c = h = 0.6)."""
    rng = np.random.default_rng(1)
    spec, outputs, aux, f_true, l_true = _rows(rng, 600, hit_rate=0.6, peak=0.5)
    events = calib.confidence_events(spec, outputs, aux, f_true, l_true)
    shift = calib.fit_confidence_shift(spec, outputs, aux, f_true, l_true)
    logit = lambda p: float(np.log(p / (1 - p)))  # noqa: E731
    for target, (conf, hit) in events.items():
        assert shift[target] == pytest.approx(logit(hit.mean()) - logit(conf.mean()), abs=0.03)
    assert events["fnumber"][0].mean() == pytest.approx(0.6, abs=0.03)
    assert abs(shift["fnumber"]) <= 0.2


def test_the_shift_moves_log_odds_and_leaves_certainty_alone():
    conf = np.asarray([0.0, 0.25, 0.5, 0.9, 1.0])
    shifted = shift_confidence(conf, np.log(3.0))  # odds times 3
    assert shifted.tolist() == pytest.approx([0.0, 0.5, 0.75, 27 / 28, 1.0])
    assert shift_confidence(conf, 0.0).tolist() == pytest.approx(conf.tolist())


def test_estimate_applies_the_specs_shift_and_the_spec_carries_it():
    rng = np.random.default_rng(2)
    spec, outputs, aux, _, _ = _rows(rng, 8, hit_rate=1.0, peak=0.5)
    shifted_spec = ModelSpec.from_json(replace(spec, confidence_shift={"fnumber": 1.0}).to_json())
    assert shifted_spec.confidence_shift == {"fnumber": 1.0}
    plain, shifted = estimate(spec, outputs, aux), estimate(shifted_spec, outputs, aux)
    for a, b in zip(plain, shifted):
        assert (a.fnumber, a.focal_length_35mm) == (b.fnumber, b.focal_length_35mm)
        assert b.fnumber_confidence == pytest.approx(float(shift_confidence(a.fnumber_confidence, 1.0)), abs=1e-3)
        assert b.fnumber_confidence > a.fnumber_confidence
        assert b.focal_length_confidence == a.focal_length_confidence  # no shift for focal length


def test_a_spec_without_a_shift_still_loads_and_a_wild_one_is_refused():
    raw = default_spec("t").to_json()
    older = raw.replace('"confidence_shift": {}, ', "").replace('"format_version": 3', '"format_version": 2')
    assert '"confidence_shift"' not in older
    assert ModelSpec.from_json(older).confidence_shift == {}
    with pytest.raises(ModelError, match="confidence shift"):
        ModelSpec.from_json(raw.replace('"confidence_shift": {}', '"confidence_shift": {"fnumber": 40}'))


def test_ranking_says_whether_higher_confidences_are_more_often_right():
    """AUC: 1 when every right estimate outranks every wrong one, 0.5 for ties or chance,
    and it equals the share of (right, wrong) pairs ordered correctly."""
    from photo_tagger.trainer.evaluate import ranking

    assert ranking(np.asarray([0.9, 0.8, 0.2, 0.1]), np.asarray([1, 1, 0, 0])) == 1.0
    assert ranking(np.asarray([0.9, 0.8, 0.2, 0.1]), np.asarray([0, 0, 1, 1])) == 0.0
    assert ranking(np.full(6, 0.42), np.asarray([1, 0, 1, 0, 1, 1])) == 0.5  # the baseline's constant
    assert np.isnan(ranking(np.asarray([0.3, 0.7]), np.asarray([1, 1])))
    rng = np.random.default_rng(4)
    conf = rng.choice([0.2, 0.4, 0.6, 0.8], 50)  # ties on purpose
    hit = rng.random(50) < conf
    pairs = [(a > b) + 0.5 * (a == b) for a in conf[hit] for b in conf[~hit]]
    assert ranking(conf, hit) == pytest.approx(np.mean(pairs))
    # a shift of the confidences' scale changes no ordering
    assert ranking(shift_confidence(conf, 1.3), hit) == pytest.approx(ranking(conf, hit))


def test_a_few_photos_move_the_shift_less_than_many_saying_the_same():
    """Same hit rate, same confidences: 12 photos earn a smaller offset than 600 (the prior on
    the offset), and 600 land close to the unpenalised logit(h) - logit(c)."""
    few = _rows(np.random.default_rng(7), 12, hit_rate=1.0, peak=0.5)
    many = _rows(np.random.default_rng(7), 600, hit_rate=1.0, peak=0.5)
    small = calib.fit_confidence_shift(*few)["fnumber"]
    large = calib.fit_confidence_shift(*many)["fnumber"]
    assert 0.0 < small < large - 0.3
    assert large == calib.SHIFTS[-1]  # every estimate right: as far as the grid goes


def test_point_score_puts_a_rule_ahead_of_the_baseline_only_where_its_figures_are():
    base = {"within_20_percent": 0.4, "mape": 30.0, "mae": 20.0, "msle": 0.4, "mse": 900.0}
    assert calib.point_score(base, base, "focal35") == 0.0
    better = {**base, "mape": 15.0}  # half the percentage error, the rest equal
    assert calib.point_score(better, base, "focal35") == pytest.approx(np.log(0.5) / 5, abs=1e-4)
    worse_hits = {**base, "within_20_percent": 0.2}
    assert calib.point_score(worse_hits, base, "focal35") == pytest.approx(np.log(2.0) / 5, abs=1e-4)


def test_calibration_picks_each_targets_point_rule_from_the_allowed_ones():
    """Focal lengths of zoom shots, each distribution split between the true wide end and a
    false long end: the window mode takes the long peak where it is a little heavier and
    misses by 300%; the MAPE rule stays short and beats the baseline, so it is chosen; with
    only the mode allowed, calibration keeps the mode."""
    rng = np.random.default_rng(5)
    spec, outputs, aux, f_true, l_true = _rows(rng, 200, hit_rate=1.0, peak=0.9)
    l_bins = np.asarray(spec.focal35_bins)
    wide = np.full(200, int(np.argmin(abs(l_bins - 28))))
    long = np.full(200, int(np.argmin(abs(l_bins - 112))))
    probs = np.full((200, len(l_bins)), 1e-4)
    share = rng.uniform(0.4, 0.6, 200)
    probs[np.arange(200), wide], probs[np.arange(200), long] = share, 1 - share
    outputs = {**outputs, OUTPUT_FOCAL35: np.log(probs / probs.sum(1, keepdims=True))}
    l_true = np.where(rng.random(200) < 0.8, l_bins[wide], l_bins[long])
    chosen, report = calib.calibrate(spec, outputs, aux, f_true, l_true, np.full(200, np.nan))
    assert chosen.point["focal35"] == "mape"
    assert report["point_score"]["mape"]["focal35"] < report["point_score"]["mode"]["focal35"]
    only_mode = {"fnumber": ("mode",), "focal35": ("mode",)}
    assert calib.calibrate(spec, outputs, aux, f_true, l_true, np.full(200, np.nan), choices=only_mode)[0].point == {
        "fnumber": "mode", "focal35": "mode"}
