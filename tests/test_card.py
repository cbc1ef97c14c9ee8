"""What a model card reports: proper confidence scores, calibration folds, the dev-only trials."""

from __future__ import annotations

import numpy as np
import pytest

from photo_tagger.trainer.card import development_lines, losses_line, markdown, table
from photo_tagger.estimate import Estimate
from photo_tagger.trainer.evaluate import baseline_figures, body_means, brier, ece, figures, per_body
from photo_tagger.camera import UNKNOWN_BODY
from photo_tagger.trainer.harvest import LabeledPhoto

pytest.importorskip("torch")  # train.py's module imports torch's heads
from photo_tagger.trainer.train import calibration_group  # noqa: E402


def photo(body: str, fnumber: float, name: str = "a.jpg") -> LabeledPhoto:
    return LabeledPhoto(name, body, fnumber, 50.0, 1.5, 10.0, np.zeros(4, np.float32))


def test_brier_is_p_one_minus_p_for_a_constant_confidence_and_rewards_telling_hits_apart():
    hits = np.array([1, 1, 0, 0, 1, 0, 1, 0], dtype=bool)
    constant = np.full(8, 0.5)
    assert ece(constant, hits) == pytest.approx(0.0)  # ECE cannot tell this apart from a good model
    assert brier(constant, hits) == pytest.approx(0.25)
    telling = np.where(hits, 0.8, 0.2)
    assert brier(telling, hits) == pytest.approx(0.04)
    assert brier(np.where(hits, 0.2, 0.8), hits) == pytest.approx(0.64)  # confidently wrong is worst


def test_figures_score_each_targets_confidence_against_its_own_tolerance():
    true_f, true_l = np.array([2.0, 4.0, 8.0]), np.array([50.0, 50.0, 100.0])
    pred_f = np.array([2.0, 5.6, 8.0])  # the middle one is just inside one stop (4 x 1.4)
    pred_l = np.array([50.0, 70.0, 100.0])  # the middle one is 40% out
    out = figures(pred_f, np.full(3, 1.0), pred_l, np.array([1.0, 1.0, 1.0]), true_f, true_l)
    assert out["fnumber"]["brier"] == pytest.approx(0.0)
    assert out["focal35"]["brier"] == pytest.approx(1 / 3, abs=1e-4)


def test_calibration_folds_by_body_hold_a_whole_body_out():
    a1, a2 = photo("Canon EOS 6D", 2.8, "1.jpg"), photo("Canon EOS 6D", 8.0, "2.jpg")
    u1, u2 = photo(UNKNOWN_BODY, 2.8, "3.jpg"), photo(UNKNOWN_BODY, 8.0, "4.jpg")
    assert calibration_group(a1, "body") == calibration_group(a2, "body")
    assert calibration_group(a1, "shot") != calibration_group(a2, "shot")
    # "unknown body" is no body: those photos come from anywhere, so each shot stays its own group
    assert calibration_group(u1, "body") != calibration_group(u2, "body")
    with pytest.raises(ValueError, match="calibration_groups"):
        calibration_group(a1, "camera")


def test_the_card_says_where_the_baseline_wins_and_renders_the_dev_trials():
    rng = np.random.default_rng(0)
    f_true, l_true = rng.uniform(1.8, 11, 40), rng.uniform(24, 200, 40)
    model = figures(f_true * 1.1, np.full(40, 1.0), l_true * 1.05, np.full(40, 1.0), f_true, l_true)
    base = baseline_figures(f_true, l_true, f_true, l_true)
    lines = "\n".join(table(model, base))
    assert "FNumber confidence Brier score" in lines and "Focal confidence Brier score" in lines
    assert "FNumber confidence ranking (AUC" in lines and "| nan |" in lines  # all right: nothing to rank
    assert "beats the median baseline on every figure" in losses_line(model, base)
    overconfident = figures(f_true * 3, np.full(40, 0.99), l_true, np.full(40, 0.95), f_true, l_true)
    assert "FNumber confidence Brier score" in losses_line(overconfident, base)
    trials = {"320 px, shipped": {"combine": "product", "dev_only": model, "dev_only_baseline": base}}
    dev = "\n".join(development_lines({"command": "python -m x --measure", "dev_only_photos": 40, "trials": trials}))
    assert "python -m x --measure" in dev and "| 320 px, shipped (product) |" in dev
    assert f"{model['fnumber']['brier']:.3g}" in dev
    assert development_lines(None) == []
    assert "measured on another build" in dev  # no fingerprint: nothing ties the figures to a model
    trials["320 px, shipped"]["fingerprint"] = "0badcafe"
    same = "\n".join(development_lines({"command": "x", "dev_only_photos": 40, "trials": trials}, "starter-0.1+0badcafe"))
    assert "is this model" in same and "another build" not in same
    other = "\n".join(development_lines({"command": "x", "dev_only_photos": 40, "trials": trials}, "starter-0.1+12345678"))
    assert "measured on another build" in other and "`starter-0.1+12345678`" in other
    # a long series from one body counts as one case in the body means
    bodies = ["Kodak"] * 30 + ["Canon", "Nikon"]
    est = [Estimate(fnumber=5.0 if b == "Kodak" else 2.0, fnumber_confidence=0.5, focal_length_35mm=50.0,
                    focal_length_confidence=0.5, ev100=None) for b in bodies]
    means = body_means(per_body(bodies, est, np.full(32, 2.0), np.full(32, 50.0)))
    assert means == {"fnumber_within_one_stop": pytest.approx(2 / 3, abs=1e-3), "focal35_within_20_percent": 1.0}
    trials["320 px, shipped"]["dev_only_body_means"] = means
    dev = "\n".join(development_lines({"command": "x", "dev_only_photos": 32, "trials": trials}))
    assert "320 px, shipped 0.67 / 1.00" in dev


def test_a_card_written_before_brier_existed_still_renders():
    rng = np.random.default_rng(1)
    f_true, l_true = rng.uniform(1.8, 11, 10), rng.uniform(24, 200, 10)
    model = figures(f_true, np.full(10, 0.5), l_true, np.full(10, 0.5), f_true, l_true)
    for target in ("fnumber", "focal35"):
        del model[target]["brier"]
    info = {"training_data": {"photos": {"train": 1, "validation": 1, "test": 10},
                              "train_rows_with_augmentation": 2, "train_bodies": {"X": 1}},
            "test": model, "baseline_test": baseline_figures(f_true, l_true, f_true, l_true),
            "per_body_test": {}}
    text = markdown("old.onnx", info)
    assert "FNumber MAPE" in text and "Brier score |" not in text
    # no routes or per-body figures recorded: no empty tables; a frozen backbone says so
    assert "## Per body" not in text and "## FNumber routes" not in text and "(ImageNet-pretrained, frozen)" in text
    tuned = markdown("tuned.onnx", {**info, "finetuned_blocks": 2})
    assert "its last 2 blocks and head convolution fine-tuned" in tuned and "frozen" not in tuned
    # held-out photos that are one burst: the card says why it has no interval column
    burst = markdown("burst.onnx", {**info, "test_difference_95": {}, "test_shots": 1})
    assert "These 10 photos are a single shot" in burst and "95% interval" not in burst
    assert "single shot" not in markdown("shots.onnx", {**info, "test_difference_95": {}, "test_shots": 4})


def test_difference_intervals_resample_whole_shots_and_tell_noise_from_a_real_gap():
    from photo_tagger.trainer.evaluate import baseline_predictions, difference_intervals

    rng = np.random.default_rng(2)
    f_true, l_true = rng.uniform(1.8, 11, 40), rng.uniform(24, 200, 40)
    base = baseline_predictions(f_true, l_true, 40)
    good = (f_true * 1.05, np.full(40, 0.9), l_true * 1.05, np.full(40, 0.9))
    shots = list(range(40))
    diff = difference_intervals(good, base, f_true, l_true, shots, trials=300)
    assert diff["fnumber"]["mse"][1] < 0 and diff["fnumber"]["within_one_stop"][0] > 0
    assert diff["focal35"]["mape"][1] < 0
    # the baseline against itself differs by nothing, whatever is resampled
    assert diff_of(difference_intervals(base, base, f_true, l_true, shots, trials=50)) == {0.0}
    # one shot: every resample draws the same photos, so there is no interval to give
    assert difference_intervals(good, base, f_true, l_true, ["same shot"] * 40, trials=50) == {}
    assert diff_of(difference_intervals(good, base, f_true, l_true, ["a"] * 20 + ["b"] * 20, trials=50))
    # one wild miss among good estimates: worse MSE on the split, but the interval spans zero
    wild = (np.where(np.arange(40) == 0, 40.0, f_true * 1.05), *good[1:])
    model = figures(*wild, f_true, l_true)
    baseline = baseline_figures(f_true, l_true, f_true, l_true)
    mixed = difference_intervals(wild, base, f_true, l_true, shots, trials=300)
    line = losses_line(model, baseline, mixed)
    assert model["fnumber"]["mse"] > baseline["fnumber"]["mse"]  # one photo tips the split's figure
    assert "FNumber MSE (within noise: the interval spans zero)" in line
    assert "clearly better (95% interval of the difference excludes zero) on" in line
    bad = (f_true * 3, *good[1:])
    worse = difference_intervals(bad, base, f_true, l_true, shots, trials=300)
    assert "FNumber MAPE (%) (clearly worse)" in losses_line(figures(*bad, f_true, l_true), baseline, worse)
    rendered = "\n".join(table(model, baseline, mixed))
    assert "Model - baseline (95% interval)" in rendered and "| FNumber calibration error (ECE) |" in rendered
    assert "ece" not in mixed["fnumber"]  # resampling inflates ECE: the card points to its noise band instead


def diff_of(intervals: dict) -> set[float]:
    return {v for target in intervals.values() for pair in target.values() for v in pair}


def test_a_ranking_interval_skips_resamples_where_one_side_has_nothing_to_rank():
    """The baseline's focal length is within 20% on 2 of 30 photos, so about one resample in
    eight leaves it no hit and its AUC undefined; the interval must skip those, not be NaN."""
    from photo_tagger.trainer.evaluate import difference_intervals

    rng = np.random.default_rng(6)
    f_true = rng.uniform(1.8, 11, 30)
    l_true = np.where(np.arange(30) < 2, 100.0, 300.0)
    hit = np.arange(30) % 3 != 0
    model = (f_true, np.where(hit, 0.8, 0.3), np.where(hit, l_true, l_true * 2), np.where(hit, 0.8, 0.3))
    base = (np.full(30, 4.0), np.full(30, 0.4), np.full(30, 100.0), np.full(30, 0.4))
    diff = difference_intervals(model, base, f_true, l_true, list(range(30)), trials=200)
    assert all(np.isfinite(v) for v in diff_of(diff))
    assert diff["focal35"]["auc"] == [0.5, 0.5]  # a perfect ranking (1.0) minus the constant's 0.5


def test_the_card_says_what_the_heads_predict_and_read():
    from dataclasses import replace

    from photo_tagger.trainer.card import inputs_sentence
    from photo_tagger.trainer.heads import HeadConfig
    from photo_tagger.trainer.train import TrainConfig

    shipped = inputs_sentence(TrainConfig().to_dict())
    assert shipped.startswith("FNumber, ") and "crop factor and the exposure records are inputs" in shipped
    physics = inputs_sentence(replace(TrainConfig(), dof_units="equivalent",
                                      heads=HeadConfig(use_crop_input=False, ev_exposure_inputs=False)).to_dict())
    assert physics.startswith("the equivalent aperture (FNumber x crop factor")
    assert "crop factor and" not in physics and "reads no exposure time or ISO" in physics
    assert inputs_sentence({}) == shipped  # a card from before the configuration was saved


def test_the_card_names_each_targets_point_rule_in_words():
    from photo_tagger.trainer.card import point_words
    words = point_words({"fnumber": "median", "focal35": "mape"})
    assert words == ("for FNumber the median of its distribution; for focal length the value with the "
                     "least expected percentage error of its distribution")
