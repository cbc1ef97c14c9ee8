"""The sensor-size label prior: how it is built, mixed in, and how much of it calibration keeps."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from photo_tagger.errors import ModelError
from photo_tagger.estimate import estimate
from photo_tagger.modelspec import AUX_FEATURES, OUTPUT_EV100, OUTPUT_FNUMBER, OUTPUT_FOCAL35, ModelSpec, default_spec
from photo_tagger.trainer import calibrate as calib
from photo_tagger.trainer import prior

CROP = AUX_FEATURES.index("log2_crop_factor")
HAS_CROP = AUX_FEATURES.index("has_crop_factor")


def aux_for(crops: list[float | None]) -> np.ndarray:
    aux = np.zeros((len(crops), len(AUX_FEATURES)), np.float32)
    for i, crop in enumerate(crops):
        if crop is not None:
            aux[i, CROP], aux[i, HAS_CROP] = math.log2(crop), 1.0
    return aux


def peak(bins: tuple[float, ...], value: float) -> float:
    return float(bins[int(np.argmin(np.abs(np.log(bins) - math.log(value))))])


def test_each_sensor_class_gets_its_own_labels_and_an_unknown_crop_the_overall_ones():
    spec = default_spec("t")
    fnumbers = np.asarray([1.8] * 10 + [8.0] * 10)
    focals = np.asarray([26.0] * 10 + [200.0] * 10)
    aux = aux_for([6.0] * 10 + [1.0] * 10)  # phones at f/1.8, full frame at f/8
    table = prior.build(spec, fnumbers, focals, aux)
    rows = np.asarray(table["fnumber"])
    assert rows.shape == (len(prior.CROP_BOUNDS) + 2, len(spec.fnumber_bins))
    assert np.allclose(rows.sum(1), 1.0)
    small, full, overall = rows[3], rows[0], rows[-1]
    assert spec.fnumber_bins[int(small.argmax())] == peak(spec.fnumber_bins, 1.8)
    assert spec.fnumber_bins[int(full.argmax())] == peak(spec.fnumber_bins, 8.0)
    assert overall[int(small.argmax())] > 0.1 and overall[int(full.argmax())] > 0.1
    assert rows.min() > 0  # nothing is impossible
    # an empty class (APS-C here) falls back to the overall prior
    assert np.allclose(rows[1], overall)


def test_leave_group_out_drops_the_photos_own_label():
    spec = default_spec("t")
    fnumbers = np.asarray([1.8] * 6 + [16.0])
    aux = aux_for([6.0] * 7)
    groups = list(range(7))
    loo = prior.leave_group_out(spec, fnumbers, np.full(7, 28.0), aux, groups, aux[-1:], [6])
    full = np.asarray(prior.build(spec, fnumbers, np.full(7, 28.0), aux)["fnumber"][3])
    f16 = int(np.argmin(np.abs(np.log(spec.fnumber_bins) - math.log(16.0))))
    assert loo["fnumber"][0, f16] < full[f16] / 3  # its own f/16 no longer props the prior up


def synthetic(spec: ModelSpec, truth: np.ndarray, informative: bool, seed: int = 0) -> dict[str, np.ndarray]:
    """Logits that peak at the truth (informative) or are noise."""
    rng = np.random.default_rng(seed)
    log_bins = np.log(spec.fnumber_bins)
    if informative:
        f = -((log_bins[None, :] - np.log(truth)[:, None]) ** 2) / 0.02
    else:
        f = rng.normal(size=(len(truth), len(log_bins))) * 3
    return {OUTPUT_FNUMBER: f, OUTPUT_FOCAL35: rng.normal(size=(len(truth), len(spec.focal35_bins))),
            OUTPUT_EV100: np.zeros((len(truth), len(spec.ev100_bins)))}


@pytest.mark.parametrize("informative", [True, False])
def test_calibration_keeps_the_prior_only_where_it_helps(informative):
    """A sharp, right model keeps the prior out; a model that is noise leans on a prior that is right."""
    rng = np.random.default_rng(1)
    spec = default_spec("t")
    truth = np.exp(rng.normal(math.log(2.0), 0.1, size=60))  # small sensors around f/2
    aux = aux_for([6.0] * 60)
    labels = truth if not informative else np.full(60, 11.0)  # the prior is right only when the model is not
    spec = replace(spec, prior=prior.build(spec, labels, np.full(60, 28.0), aux))
    outputs = synthetic(spec, truth, informative)
    fitted, report = calib.calibrate(spec, outputs, aux, truth, np.full(60, 28.0), np.full(60, np.nan))
    if informative:
        assert fitted.prior_weight["fnumber"] == 0.0
    else:
        assert fitted.prior_weight["fnumber"] >= 0.2
        est = estimate(fitted, outputs, aux)
        assert np.median([abs(math.log2(e.fnumber / t)) * 2 for e, t in zip(est, truth)]) < 1.0


def test_weight_zero_is_the_model_alone_and_a_malformed_prior_is_refused():
    spec = replace(default_spec("t"), point={"fnumber": "median"})
    aux = aux_for([6.0, None])
    table = prior.build(spec, np.asarray([2.0, 2.0]), np.asarray([28.0, 28.0]), aux)
    outputs = synthetic(spec, np.asarray([8.0, 8.0]), informative=True)
    alone = estimate(spec, outputs, aux)
    assert estimate(replace(spec, prior=table, prior_weight={"fnumber": 0.0}), outputs, aux) == alone
    mixed = estimate(replace(spec, prior=table, prior_weight={"fnumber": 0.5}), outputs, aux)
    assert all(m.fnumber < a.fnumber for m, a in zip(mixed, alone))  # pulled toward the f/2 labels
    with pytest.raises(ModelError, match="prior"):
        ModelSpec.from_json(replace(spec, prior={"crop_bounds": [1.2], "fnumber": [[1.0]]},
                                    prior_weight={"fnumber": 0.5}).to_json())
    with pytest.raises(ModelError, match="prior weight"):
        ModelSpec.from_json(replace(spec, prior=table, prior_weight={"fnumber": 1.5}).to_json())


def test_a_geometric_pool_keeps_what_model_and_prior_agree_on():
    """A phone shot at 28 mm: the model has a narrow peak there and a long, confused tail; the
    small-sensor prior spreads over 26-38 mm. The mixture keeps both spreads and its median
    lands on the prior's shoulder; the geometric pool keeps their overlap, the model's peak."""
    spec = replace(default_spec("t"), point={"focal35": "median"})
    aux = aux_for([6.0])
    focals = np.asarray([26.0, 28.0, 35.0, 38.0] * 4 + [50.0, 85.0, 135.0, 200.0] * 3)
    table = prior.build(spec, np.full(28, 2.0), focals, aux_for([6.0] * 16 + [1.0] * 12))
    log_bins = np.log(spec.focal35_bins)

    def bump(centre: float, sd: float) -> np.ndarray:
        b = np.exp(-((log_bins - math.log(centre)) ** 2) / (2 * sd ** 2))
        return b / b.sum()

    model = 0.3 * bump(28.0, 0.08) + 0.7 * bump(100.0, 0.4)
    outputs = {OUTPUT_FNUMBER: np.zeros((1, len(spec.fnumber_bins))), OUTPUT_FOCAL35: np.log(model)[None, :],
               OUTPUT_EV100: np.zeros((1, len(spec.ev100_bins)))}
    weights = {"fnumber": 0.0, "focal35": 0.5}
    mixed = estimate(replace(spec, prior=table, prior_weight=weights), outputs, aux)[0].focal_length_35mm
    pooled = estimate(replace(spec, prior=table, prior_weight=weights, prior_pool={"focal35": "log"}),
                      outputs, aux)[0].focal_length_35mm
    alone = estimate(spec, outputs, aux)[0].focal_length_35mm
    assert abs(math.log(pooled / 28.0)) < math.log(1.1)
    assert abs(math.log(mixed / 28.0)) > math.log(1.2) and alone > 2 * 28.0
    # weight 0 is the model alone under either pool
    assert estimate(replace(spec, prior=table, prior_weight={"focal35": 0.0}, prior_pool={"focal35": "log"}),
                    outputs, aux)[0].focal_length_35mm == alone


def test_a_geometric_pool_needs_format_5_and_an_unknown_pool_is_refused():
    spec = replace(default_spec("t"), prior_pool={"fnumber": "linear", "focal35": "log"})
    assert spec.format_version == 5 and default_spec("t").format_version == 3
    assert replace(default_spec("t"), prior_pool={"focal35": "linear"}).format_version == 3
    assert ModelSpec.from_json(spec.to_json()).prior_pool == {"fnumber": "linear", "focal35": "log"}
    with pytest.raises(ModelError, match="pooling"):
        ModelSpec.from_json(replace(spec, prior_pool={"focal35": "cubic"}).to_json())


def test_calibration_keeps_the_pool_it_was_given_and_the_card_names_it():
    from photo_tagger.trainer.card import prior_words

    rng = np.random.default_rng(2)
    spec = replace(default_spec("t"), prior_pool={"fnumber": "linear", "focal35": "log"})
    truth = np.exp(rng.normal(math.log(2.0), 0.1, size=40))
    aux = aux_for([6.0] * 40)
    focal = np.exp(rng.normal(math.log(26.0), 0.03, size=40))
    spec = replace(spec, prior=prior.build(spec, truth, focal, aux))
    fitted, report = calib.calibrate(spec, synthetic(spec, truth, False), aux, truth, focal, np.full(40, np.nan))
    assert fitted.prior_pool == report["prior_pool"] == {"fnumber": "linear", "focal35": "log"}
    assert fitted.prior_weight["focal35"] > 0  # the model's focal output is noise; the prior is right
    words = prior_words(fitted.prior_weight, report["prior_pool"])
    assert "FNumber as a mixture" in words and "focal length as a weighted geometric mean" in words
    assert prior_words({}, {}) == "no sensor-size label prior"
