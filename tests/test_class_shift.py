"""Confidence offsets per sensor-size class: fitted where a group's hits say so, carried in
the spec, applied per photo by `estimate` (free and lens-constrained alike)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from photo_tagger.calibration import confidence_shifts, shift_confidence
from photo_tagger.errors import ModelError
from photo_tagger.estimate import LensConstraint, estimate
from photo_tagger.modelspec import OUTPUT_EV100, OUTPUT_FNUMBER, OUTPUT_FOCAL35, ModelSpec, default_spec
from photo_tagger.trainer import calibrate as calib
from photo_tagger.trainer import prior
from photo_tagger.trainer.card import class_shift_words
from test_prior import aux_for

PHONE, APS_C, FULL_FRAME = 6.0, 1.5, 1.0


def spec_with_prior() -> ModelSpec:
    """A spec with a real label prior (so sensor classes exist) and mode point rules."""
    spec = replace(default_spec("t"), combine="dof", point={"fnumber": "mode", "focal35": "mode"})
    table = prior.build(spec, np.asarray([2.0, 8.0]), np.asarray([28.0, 85.0]), aux_for([PHONE, FULL_FRAME]))
    return replace(spec, prior=table)


def rows(crops: list[float | None], hits: list[bool]) -> tuple:
    """Photos whose focal distributions put 0.6 of their mass on one bin (FNumber likewise);
    the truth is that bin where hits says so and four times longer otherwise."""
    spec = spec_with_prior()
    n = len(crops)
    f_bins, l_bins = np.asarray(spec.fnumber_bins), np.asarray(spec.focal35_bins)

    def logits(bins: np.ndarray, at: int) -> np.ndarray:
        probs = np.full((n, len(bins)), 0.4 / (len(bins) - 1))
        probs[:, at] = 0.6
        return np.log(probs)

    outputs = {OUTPUT_FNUMBER: logits(f_bins, 9), OUTPUT_FOCAL35: logits(l_bins, 12),
               OUTPUT_EV100: np.zeros((n, len(spec.ev100_bins)))}
    hit = np.asarray(hits)
    return (spec, outputs, aux_for(crops), np.where(hit, f_bins[9], f_bins[9] * 4),
            np.where(hit, l_bins[12], l_bins[12] * 4))


def test_a_group_that_misses_gets_its_own_lower_offset_and_an_unknown_crop_none():
    crops = [PHONE] * 60 + [APS_C] * 30 + [FULL_FRAME] * 30 + [None] * 10
    hits = [True] * 60 + [False] * 60 + [True] * 10
    spec, outputs, aux, f_true, l_true = rows(crops, hits)
    spec = replace(spec, confidence_shift=calib.fit_confidence_shift(spec, outputs, aux, f_true, l_true))
    fitted = calib.fit_class_shift(spec, outputs, aux, f_true, l_true, targets=("focal35",))
    assert list(fitted) == ["focal35"]  # only the targets asked for
    offsets = fitted["focal35"]
    groups = calib.shift_groups(spec)
    assert groups == [1] * len(prior.CROP_BOUNDS) + [0, -1] and len(offsets) == len(groups)
    larger, small, unknown = offsets[0], offsets[len(prior.CROP_BOUNDS)], offsets[-1]
    assert larger < -1.0 < 0.5 < small and unknown == 0.0
    assert len(set(offsets[: len(prior.CROP_BOUNDS)])) == 1  # the larger classes share one offset
    after = calib.confidence_events(replace(spec, class_shift=fitted), outputs, aux, f_true, l_true)
    conf, hit = after["focal35"]
    phone, aps = np.asarray(crops, dtype=object) == PHONE, np.asarray(crops, dtype=object) == APS_C
    assert conf[aps].mean() < 0.25 and conf[phone].mean() > 0.75  # now they say what happened
    assert calib.fit_class_shift(spec, outputs, aux, f_true, l_true, targets=()) == {}


def test_estimate_applies_each_photos_class_offset_free_and_with_a_lens():
    spec, outputs, aux, _, _ = rows([PHONE, FULL_FRAME, None], [True] * 3)
    classes = len(prior.CROP_BOUNDS) + 2
    offsets = [-2.0] * (classes - 2) + [1.0, 0.0]
    shifted = replace(spec, confidence_shift={"focal35": 0.5}, class_shift={"focal35": offsets})
    assert np.allclose(confidence_shifts(shifted, "focal35", aux), [1.5, -1.5, 0.5])
    assert np.allclose(confidence_shifts(shifted, "fnumber", aux), 0.0)
    plain, moved = estimate(spec, outputs, aux), estimate(shifted, outputs, aux)
    for a, b, total in zip(plain, moved, (1.5, -1.5, 0.5)):
        assert b.focal_length_35mm == a.focal_length_35mm and b.fnumber_confidence == a.fnumber_confidence
        assert b.focal_length_confidence == pytest.approx(float(shift_confidence(a.focal_length_confidence, total)), abs=1e-4)
    zoom = [LensConstraint(focal_min=20.0, focal_max=200.0, aperture_min=3.5, aperture_max=22.0)]
    plain, moved = estimate(spec, outputs, aux, constraints=[zoom] * 3), estimate(shifted, outputs, aux, constraints=[zoom] * 3)
    assert moved[0].focal_length_confidence > plain[0].focal_length_confidence
    assert moved[1].focal_length_confidence < plain[1].focal_length_confidence


def test_class_offsets_travel_in_the_spec_and_older_readers_are_told_to_upgrade():
    spec = spec_with_prior()
    offsets = [-1.5] * len(prior.CROP_BOUNDS) + [0.3, 0.0]
    shifted = replace(spec, class_shift={"focal35": offsets})
    assert spec.format_version < 6 <= shifted.format_version  # a reader that ignored them would overstate
    back = ModelSpec.from_json(shifted.to_json())
    assert back.class_shift == {"focal35": offsets} and back.format_version == shifted.format_version
    raw = json.loads(shifted.to_json())
    for bad in ({"focal35": offsets[:-1]}, {"focal35": [9.0] * len(offsets)}, {"ev100": offsets}):
        with pytest.raises(ModelError):
            ModelSpec.from_json(json.dumps({**raw, "class_shift": bad}))
    with pytest.raises(ModelError, match="sensor-size"):  # offsets need the prior's classes
        ModelSpec.from_json(json.dumps({**raw, "prior": {}, "prior_weight": {}}))


def test_the_card_says_the_offsets_in_words():
    words = class_shift_words({"focal35": [-1.9, -1.9, -1.9, 0.35, 0.0]}, [1.2, 2.1, 3.5])
    assert "focal length +0.35 for phones and compacts (crop factor 3.5 and up)" in words
    assert "-1.9 for larger sensors" in words
    assert class_shift_words({}, [1.2, 2.1, 3.5]) == "" and class_shift_words({"focal35": [0.0] * 5}, []) == ""
