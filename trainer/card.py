"""The model card: what a model was trained on and how it scored on held-out photos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

ROWS = (
    ("fnumber", "within_one_stop", "FNumber within one stop"),
    ("fnumber", "within_third_stop", "FNumber within 1/3 stop"),
    ("fnumber", "aperture_3bin_accuracy", "Aperture 3-bin accuracy (<2.8 / 2.8-4.9 / >4.9)"),
    ("fnumber", "mape", "FNumber MAPE (%)"),
    ("fnumber", "mae", "FNumber MAE"),
    ("fnumber", "msle", "FNumber MSLE"),
    ("fnumber", "mse", "FNumber MSE"),
    ("fnumber", "ece", "FNumber calibration error (ECE)"),
    ("fnumber", "brier", "FNumber confidence Brier score"),
    ("fnumber", "auc", "FNumber confidence ranking (AUC; 0.5: none)"),
    ("focal35", "within_20_percent", "Focal (35 mm eq.) within 20%"),
    ("focal35", "mape", "Focal MAPE (%)"),
    ("focal35", "mae", "Focal MAE (mm)"),
    ("focal35", "msle", "Focal MSLE"),
    ("focal35", "mse", "Focal MSE (mm²)"),
    ("focal35", "ece", "Focal calibration error (ECE)"),
    ("focal35", "brier", "Focal confidence Brier score"),
    ("focal35", "auc", "Focal confidence ranking (AUC; 0.5: none)"),
)


Intervals = dict[str, dict[str, list[float]]]


def table(model: dict, baseline: dict, diff: Intervals | None = None) -> list[str]:
    """Model against baseline per figure; with `diff`, the 95% interval of their difference."""
    extra = " Model - baseline (95% interval) |" if diff else ""
    lines = ["| Figure | Model | Training-median baseline |" + extra, "|---|---|---|" + ("---|" if diff else "")]
    for target, key, label in ROWS:
        if key in model[target]:  # cards written before a figure existed lack it
            cell = ""
            if diff:
                pair = diff.get(target, {}).get(key)
                cell = f" {pair[0]:+.3f} to {pair[1]:+.3f} |" if pair else " see below |"
            lines.append(f"| {label} | {model[target][key]:.3f} | {baseline[target][key]:.3f} |{cell}")
    return lines


LOWER_IS_BETTER = ("mape", "mae", "msle", "mse", "ece", "brier")


def _clear(target: str, key: str, diff: Intervals | None, better: bool) -> bool:
    """Whether the interval of model - baseline lies wholly on one side of zero."""
    lo, hi = (diff or {}).get(target, {}).get(key, (float("nan"), float("nan")))
    lower_wins = key in LOWER_IS_BETTER
    return bool(hi < 0 if lower_wins == better else lo > 0)


def _verdict(target: str, key: str, diff: Intervals | None) -> str:
    if not diff:
        return ""
    if key not in diff.get(target, {}):
        return " (no interval: see the noise band below)"
    return " (clearly worse)" if _clear(target, key, diff, False) else " (within noise: the interval spans zero)"


def losses_line(model: dict, baseline: dict, diff: Intervals | None = None) -> str:
    """Say plainly where the model does not beat the baseline, and (with intervals) whether
    the test split can tell the two apart there."""
    rows = [(t, k, label) for t, k, label in ROWS  # a NaN (no wrong estimate to rank) compares with nothing
            if k in model[t] and np.isfinite(model[t][k]) and np.isfinite(baseline[t][k])]
    worse = [(t, k, label) for t, k, label in rows
             if (model[t][k] > baseline[t][k]) == (k in LOWER_IS_BETTER) and model[t][k] != baseline[t][k]]
    scored = [(t, k) for t, k, _ in rows if k in (diff or {}).get(t, {})]
    clearly_better = sum(_clear(t, k, diff, True) for t, k in scored)
    tail = (f" Resampling the test shots, the model is clearly better (95% interval of the difference "
            f"excludes zero) on {clearly_better} of the {len(scored)} figures with an interval." if diff else "")
    if not worse:
        return "The model beats the median baseline on every figure above." + tail
    named = [label + _verdict(t, k, diff) for t, k, label in worse]
    return "The model does NOT beat the median baseline on: " + "; ".join(named) + "." + tail


CALIBRATION_ROWS = {False: "out-of-fold training predictions and validation",
                    True: "each non-test photo predicted by an ensemble trained without it"}


POINT_WORDS = {"mode": "the value most likely to be within tolerance", "median": "the median",
               "mape": "the value with the least expected percentage error"}
TARGET_WORDS = {"fnumber": "FNumber", "focal35": "focal length"}


def one_shot(info: dict) -> str:
    """Why a card has no interval column: its held-out photos are copies of one shot (or a
    burst at one setting), so they are one case however many photos they are."""
    if info.get("test_shots") != 1:
        return ""
    return (f" These {info['test']['n']} photos are a single shot (copies, or a burst at one setting): "
            "one case, with no interval to put on any difference.")


def point_words(point: dict[str, str]) -> str:
    """Each target's point rule (estimate.POINT_RULES) in words."""
    return "; ".join(f"for {TARGET_WORDS.get(t, t)} {POINT_WORDS.get(rule, rule)} of its distribution"
                     for t, rule in point.items()) or "the value most likely to be within tolerance"


POOL_WORDS = {"linear": "as a mixture", "log": "as a weighted geometric mean"}


def prior_words(weights: dict, pools: dict) -> str:
    """How the sensor-size label prior joined each target's distribution, in words."""
    joined = "; ".join(f"{TARGET_WORDS.get(t, t)} {POOL_WORDS.get(pools.get(t, 'linear'), pools.get(t))} at weight {w}"
                       for t, w in weights.items())
    return f"sensor-size label prior joined: {joined}" if joined else "no sensor-size label prior"


def confidence_lines(info: dict) -> list[str]:
    """How the confidences compare with the hit rates, and what calibration chose."""
    test, base = info["test"], info["baseline_test"]
    chosen = info.get("validation", {})
    weights = chosen.get("prior_weight", {})
    return [
        f"Confidence on the test photos: FNumber mean {test['fnumber']['mean_confidence']:.2f} against "
        f"{test['fnumber']['within_one_stop']:.2f} actually within one stop; focal length mean "
        f"{test['focal35']['mean_confidence']:.2f} against {test['focal35']['within_20_percent']:.2f} within 20%. "
        f"The baseline gives every photo the same confidence ({base['fnumber']['mean_confidence']:.2f}, its "
        "training hit rate), so its calibration error is near zero by construction; the model's vary "
        "per photo, and over 10 bins on this few photos their error is noisy: a perfectly calibrated "
        f"model with these confidences would show up to {test['fnumber'].get('ece_p95_if_calibrated', float('nan')):.2f} "
        f"(FNumber) and {test['focal35'].get('ece_p95_if_calibrated', float('nan')):.2f} (focal length) "
        "in 95% of draws. The Brier score (mean squared gap between confidence and outcome) "
        "has no such blind spot: a constant confidence scores p(1 - p) on it, and only "
        "confidences that tell good estimates from bad beat that.", "",
        f"Calibration ({CALIBRATION_ROWS[info.get('training_data', {}).get('members', 1) > 1]}, never test): the estimate is "
        f"{point_words(chosen.get('point', {}))}, {prior_words(weights, chosen.get('prior_pool', {}))} "
        "(0 would be the model alone), confidences' log-odds shifted by "
        f"{chosen.get('confidence_shift', {})} (0 would leave them as the window's mass)"
        f"{class_shift_words(chosen.get('class_shift', {}), chosen.get('crop_bounds', []))}.",
    ]


def class_shift_words(class_shift: dict, bounds: list) -> str:
    """The per-sensor-size offsets (calibrate.shift_groups: the smallest class, then the larger
    ones, which share one), in words; empty where calibration fitted none."""
    if not class_shift or not bounds:
        return ""
    parts = [f"{TARGET_WORDS.get(t, t)} {v[len(bounds)]:+g} for phones and compacts (crop factor {bounds[-1]} and up) "
             f"and {v[0]:+g} for larger sensors" for t, v in class_shift.items()]
    return ", and further by " + "; ".join(parts)


def trained_on(data: dict) -> str:
    """The split sentence: one train/validation split, or a cross-fitted ensemble over both."""
    photos, k = data["photos"], data.get("members", 1)
    rows = f"{data['train_rows_with_augmentation']} training rows after metadata-aware augmentation."
    held = f"{photos['test']} held out for test"
    if "test_kept_from" in data:  # starter.Predecessor
        held += (f" (the photos `{data['test_kept_from']}`, the model this one replaced, never learned from, "
                 f"so the two versions' figures are on the same photos)")
    if k > 1:
        return (f"{photos['train'] + photos['validation']} photos for training and validation, cross-fitted: "
                f"{k} members, each trained on {k - 1} of {k} folds and early-stopped on the last, and the "
                f"model outputs their mean probability; temperatures, biases and route were fitted on "
                f"ensembles that never saw the photo they predicted. {held}; {rows}")
    return (f"{photos['train']} photos for training, {photos['validation']} for validation "
            f"(checkpoint, temperatures, biases, route), {held}; {rows}")


def inputs_sentence(config: dict) -> str:
    """What the heads predict and read, from the resolved training configuration."""
    heads = config.get("heads", {})
    dof = ("the equivalent aperture (FNumber x crop factor, converted back with the body's)"
           if config.get("dof_units") == "equivalent" else "FNumber")
    crop = "the body's crop factor and " if heads.get("use_crop_input", True) else ""
    ev = "" if heads.get("ev_exposure_inputs", True) else (
        " The EV100 head reads no exposure time or ISO: it judges the scene's light from the pixels.")
    return (f"{dof}, 35 mm-equivalent focal length and scene EV100 bins; {crop}the exposure records "
            f"are inputs.{ev}")


def markdown(name: str, info: dict) -> str:
    """The card's Markdown; every figure comes from `info`, nothing is typed by hand."""
    data = info["training_data"]
    routes = info.get("validation_routes_final", {})
    lines = [
        f"# {name}", "",
        *([f"Version `{info['model_version']}`: what `phototag models` shows and the database "
           "records beside each estimate.", ""] if info.get("model_version") else []),
        f"Backbone {info.get('backbone')} ({backbone_words(info.get('finetuned_blocks'))}) with linear heads over "
        f"{inputs_sentence(info.get('config', {}))}", "",
        "## Trained on", "",
        *adapted_from(info),
        trained_on(data),
        *([f"{data['partial_labels']} more photos whose body's crop factor could not be resolved trained "
           "the FNumber and EV100 heads only: neither label depends on the sensor, and their focal "
           "length label would have needed a guessed crop factor."] if data.get("partial_labels") else []),
        *([] if info.get("base_model") else [
            "Mostly phones and compact cameras; interchangeable-lens bodies are a minority, so expect "
            "weak estimates for fast primes and long lenses. Train on your own library with "
            "`phototag train PATH` to adapt it.", "",
            "How it does on DSLR and mirrorless photographers it never learned from, alone and with "
            "their libraries' labeled photos: `docs/accuracy.md` (`bench/portfolio_bench.py`)."]), "",
        "Training photos per body: " + ", ".join(f"{b} ({n})" for b, n in data["train_bodies"].items()), "",
        f"## Held-out test figures (n = {info['test']['n']})", "",
        "Small test split: differences of a few points are noise."
        + (" The last column is the 95% interval of model minus baseline over the test shots "
           "resampled (copies of one photo together): where it spans zero, this split cannot tell "
           "the two apart." if info.get("test_difference_95") else one_shot(info)), "",
        *table(info["test"], info["baseline_test"], info.get("test_difference_95")), "",
        losses_line(info["test"], info["baseline_test"], info.get("test_difference_95")), "",
        *base_model_lines(info),
        *confidence_lines(info), "",
        *([f"## FNumber routes on validation (chosen: {info.get('combine', info.get('validation', {}).get('combine'))})", "",
           "| Route | within one stop | MSLE |", "|---|---|---|",
           *[f"| {mode} | {r['within_one_stop']:.3f} | {r['msle']:.3f} |" for mode, r in routes.items()], "",
           "Validation figures were used for selection; only the test table above is a fair estimate.", ""]
          if routes else []),
        *([*["## Per body (test)", "", "| Body | n | FNumber within one stop | Focal within 20% |", "|---|---|---|---|"],
           *[f"| {b} | {r['n']} | {r['fnumber_within_one_stop']:.2f} | {r['focal35_within_20_percent']:.2f} |"
             for b, r in info["per_body_test"].items()], ""] if info.get("per_body_test") else []),
        *development_lines(info.get("development"), info.get("model_version")),
    ]
    return "\n".join(lines)


def backbone_words(finetuned_blocks: int | None) -> str:
    if finetuned_blocks:
        return f"ImageNet-pretrained; its last {finetuned_blocks} blocks and head convolution fine-tuned"
    return "ImageNet-pretrained, frozen"


def adapted_from(info: dict) -> list[str]:
    """For a model `phototag train` adapted to a library: which model it started from."""
    if not info.get("base_model"):
        return []
    version = f" (`{info['base_model_version']}`)" if info.get("base_model_version") else ""
    return [f"Adapted from {info['base_model']}{version} to the labeled photos found in the library it was "
            "trained on (photos with lens EXIF); its calibration below was fitted on those photos."]


BASE_FIGURES = (("fnumber", "within_one_stop", "FNumber within one stop", "{:.3f}"), ("fnumber", "mape", "FNumber MAPE", "{:.1f}%"),
                ("focal35", "within_20_percent", "focal within 20%", "{:.3f}"), ("focal35", "mape", "focal MAPE", "{:.1f}%"))


def base_model_lines(info: dict) -> list[str]:
    """The model it was adapted from, scored on the same held-out photos (what decided the install)."""
    base = info.get("base_model_test")
    if not base:
        return []
    figures = ", ".join(f"{label} {fmt.format(base[t][k])}" for t, k, label, fmt in BASE_FIGURES if k in base.get(t, {}))
    return [f"On the same held-out photos, {info.get('base_model', 'the model it was adapted from')} scored: {figures}.", ""]


DEV_COLUMNS = (("fnumber", "within_one_stop", "FNumber within one stop"), ("fnumber", "mape", "FNumber MAPE %"),
               ("fnumber", "msle", "FNumber MSLE"), ("fnumber", "mse", "FNumber MSE"), ("fnumber", "ece", "FNumber ECE"),
               ("fnumber", "brier", "FNumber Brier"), ("fnumber", "auc", "FNumber AUC"),
               ("focal35", "within_20_percent", "focal within 20%"),
               ("focal35", "mape", "focal MAPE %"), ("focal35", "brier", "focal Brier"))


def measured_this_model(development: dict, model_version: str | None) -> bool:
    """Whether the measurement's first (shipped) trial is this very model: same fingerprint.

    The measurement runs apart from the build and a build renders whatever it finds, so a
    trainer change between the two would otherwise put another model's figures on this card.
    """
    shipped = next(iter(development["trials"].values()), {})
    return bool(model_version) and shipped.get("fingerprint") == model_version.rsplit("+", 1)[-1]


def development_lines(development: dict | None, model_version: str | None = None) -> list[str]:
    """The design trials on the dev-only photos (bodies never trained on), when measured."""
    if not development:
        return []
    first = next(iter(development["trials"]), "")
    stale = [] if measured_this_model(development, model_version) else [
        f"These were measured on another build than this model (its first row is not `{model_version}`), "
        "so they describe the design choices, not this file; re-run the command and rebuild to refresh them.", ""]
    trials = development["trials"]
    base = next(iter(trials.values()))["dev_only_baseline"]
    head = " | ".join(f"{label} ({base[t][k]:.3g})" for t, k, label in DEV_COLUMNS if k in base[t])
    lines = [
        "## Development measurements (validation + the dev-only photos; never the test split)", "",
        f"Produced by `{development['command']}`. The {development['dev_only_photos']} dev-only photos come "
        "from other sources (mostly an iPhone 7 set and Kodak compacts), so they show how the model "
        "transfers to bodies it never saw; they were used for design choices (input size, crop "
        "input, calibration, the cap on the label prior's weight, training on photos of unknown "
        "crop factor), never for training or calibration. "
        "Most of them are two bodies' near-identical series, so they move together: read them as a "
        "few independent cases, not a hundred. The training-median baseline is in brackets."
        + (f" Its first row, \"{first}\", is this model: the same fingerprint." if not stale else ""), "",
        *stale,
        f"| Trial (route chosen on calibration photos) | {head} |", "|---" * (1 + len(DEV_COLUMNS)) + "|",
    ]
    for label, trial in trials.items():
        dev = trial["dev_only"]
        cells = " | ".join(f"{dev[t][k]:.3g}" for t, k, _ in DEV_COLUMNS if k in dev[t])
        lines.append(f"| {label} ({trial['combine']}) | {cells} |")
    means = {label: trial["dev_only_body_means"] for label, trial in trials.items() if "dev_only_body_means" in trial}
    if means:
        lines += ["", "Averaged over bodies instead (each body one case): FNumber within one stop / focal within "
                  "20%: " + "; ".join(f"{label} {m['fnumber_within_one_stop']:.2f} / {m['focal35_within_20_percent']:.2f}"
                                      for label, m in means.items()) + "."]
    return [*lines, ""]


def write_card(model_path: Path, info: dict, version: str | None = None) -> None:
    """Write NAME.md and NAME.json beside the model (version: the spec's model_version)."""
    stem = model_path.with_suffix("")
    info = {**info, "combine": info.get("validation", {}).get("combine"),
            **({"model_version": version} if version else {})}
    Path(f"{stem}.json").write_text(json.dumps(info, indent=2, sort_keys=True))
    Path(f"{stem}.md").write_text(markdown(model_path.name, info))
