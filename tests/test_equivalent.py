"""Depth of field in equivalent-aperture units (N x crop), converted by the body's crop factor."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from photo_tagger.equivalent import crop_prior, dof_bins, dof_labels, to_fnumber, transfer
from photo_tagger.errors import ModelError
from photo_tagger.estimate import estimate
from photo_tagger.modelspec import (AUX_FEATURES, FORMAT_VERSION, OUTPUT_EV100, OUTPUT_FNUMBER, OUTPUT_FOCAL35, ModelSpec,
                                    default_spec, third_stop_bins)

CROP, HAS_CROP = AUX_FEATURES.index("log2_crop_factor"), AUX_FEATURES.index("has_crop_factor")


def equivalent_spec(prior: list[list[float]] | None = None) -> ModelSpec:
    return replace(default_spec("eq"), dof_units="equivalent", dof_bins=tuple(third_stop_bins(0, 42)),
                   crop_prior=prior or [[1.0, 0.5], [4.0, 0.5]])


def aux_with_crop(*crops: float | None) -> np.ndarray:
    aux = np.zeros((len(crops), len(AUX_FEATURES)), np.float32)
    for row, crop in enumerate(crops):
        if crop is not None:
            aux[row, CROP], aux[row, HAS_CROP] = math.log2(crop), 1.0
    return aux


def log_mean(probs: np.ndarray, bins: np.ndarray) -> float:
    return float(np.exp((probs * np.log(bins)).sum() / probs.sum()))


def test_a_phones_equivalent_aperture_converts_to_its_fnumber():
    """f/12.6 equivalent behind a crop factor of 7 is f/1.8, and no probability is lost."""
    spec = equivalent_spec()
    eq, f = dof_bins(spec), np.asarray(spec.fnumber_bins)
    matrix = transfer(eq, f, 7.0)
    assert np.allclose(matrix.sum(1), 1.0)
    probs = np.zeros(len(eq))
    probs[int(np.argmin(abs(np.log(eq / 12.6))))] = 1.0
    assert log_mean(probs @ matrix, f) == pytest.approx(12.7 / 7.0, rel=0.02)
    # full frame: the equivalent aperture is the FNumber
    assert np.allclose(transfer(f, f, 1.0), np.eye(len(f)))


def test_out_of_range_mass_goes_to_the_end_bins():
    spec = equivalent_spec()
    f = np.asarray(spec.fnumber_bins)
    matrix = transfer(np.asarray([2.0, 500.0]), f, 7.0)  # f/0.29 and f/71 do not exist on the FNumber bins
    assert matrix[0, 0] == pytest.approx(1.0) and matrix[1, -1] == pytest.approx(1.0)


def test_conversion_uses_each_rows_crop_and_averages_over_the_prior_when_unknown():
    spec = equivalent_spec([[1.0, 0.5], [4.0, 0.5]])
    eq, f = dof_bins(spec), np.asarray(spec.fnumber_bins)
    probs = np.zeros((3, len(eq)))
    probs[:, int(np.argmin(abs(eq - 8.0)))] = 1.0  # f/8 equivalent on every row
    out = to_fnumber(spec, probs, aux_with_crop(1.0, 4.0, None))
    assert np.allclose(out.sum(1), 1.0)
    assert f[out[0].argmax()] == pytest.approx(8.0, rel=0.03) and f[out[1].argmax()] == pytest.approx(2.0, rel=0.03)
    f2, f8 = int(np.argmin(abs(f - 2.0))), int(np.argmin(abs(f - 8.0)))
    assert out[2, f2] == pytest.approx(0.5, abs=0.01) and out[2, f8] == pytest.approx(0.5, abs=0.01)
    # a model in FNumber units is left alone
    plain = default_spec("f")
    same = np.random.default_rng(0).dirichlet(np.ones(len(plain.fnumber_bins)), size=3)
    assert to_fnumber(plain, same, aux_with_crop(1.0, 4.0, None)) is same


def test_labels_are_n_times_crop_and_unknown_without_a_crop():
    spec = equivalent_spec()
    labels = dof_labels(spec, np.asarray([2.0, 2.0, 2.0]), aux_with_crop(1.0, 4.0, None))
    assert labels[:2] == pytest.approx([2.0, 8.0]) and np.isnan(labels[2])
    assert dof_labels(default_spec("f"), np.asarray([2.0]), aux_with_crop(4.0))[0] == 2.0


def test_crop_prior_is_the_share_of_each_known_crop():
    assert crop_prior(aux_with_crop(1.5, 1.5, 6.0, None)) == [[1.5, 0.666667], [6.0, 0.333333]]
    assert crop_prior(aux_with_crop(None)) == [[1.0, 1.0]]


def test_an_equivalent_model_estimates_fnumbers_through_the_crop_factor():
    """The same depth of field (f/8 equivalent) reads f/8 on full frame and f/2 behind a
    crop factor of 4: the estimate follows the body, as the optics do."""
    spec = equivalent_spec()
    eq = dof_bins(spec)
    f_logits = np.full((2, len(eq)), -20.0)
    f_logits[:, int(np.argmin(abs(eq - 8.0)))] = 20.0
    outputs = {OUTPUT_FNUMBER: f_logits, OUTPUT_FOCAL35: np.zeros((2, len(spec.focal35_bins))),
               OUTPUT_EV100: np.zeros((2, len(spec.ev100_bins)))}
    full, small = estimate(spec, outputs, aux_with_crop(1.0, 4.0), "dof")
    assert full.fnumber == pytest.approx(8.0, rel=0.05) and small.fnumber == pytest.approx(2.0, rel=0.05)
    assert small.fnumber_confidence > 0.95


def test_spec_carries_the_units_and_refuses_them_without_a_crop_prior():
    spec = equivalent_spec()
    assert ModelSpec.from_json(spec.to_json()) == spec
    # a phototag that reads format 3 must refuse it; a spec in FNumber units stays readable by one
    assert spec.format_version == 4 <= FORMAT_VERSION and default_spec("f").format_version == 3
    for broken in (replace(spec, crop_prior=[]), replace(spec, dof_units="furlongs"),
                   replace(spec, dof_bins=(4.0, 2.0))):
        with pytest.raises(ModelError):
            ModelSpec.from_json(broken.to_json())
    old = default_spec("old").to_json().replace('"dof_units": "fnumber", ', "")
    assert ModelSpec.from_json(old).dof_units == "fnumber"  # files from before the field read as before
