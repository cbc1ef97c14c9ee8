"""The trainer end to end on tiny real photos: train, export, check, scan, self-calibrate."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from click.testing import CliRunner  # noqa: E402

from photo_tagger.analyse import Task, analyse  # noqa: E402
from photo_tagger.cli import cli  # noqa: E402
from photo_tagger.cli_train import models_command, train_command  # noqa: E402
from photo_tagger.infer import Predictor  # noqa: E402
from photo_tagger.modelspec import AUX_FEATURES, default_spec  # noqa: E402
from photo_tagger.preprocess import normalise, prepare  # noqa: E402
from photo_tagger.trainer.augment import IDENTITY, Variant, relabel, render  # noqa: E402
from photo_tagger.trainer.feature_cache import FeatureCache  # noqa: E402
from photo_tagger.trainer.harvest import harvest  # noqa: E402
from photo_tagger.trainer.heads import HeadConfig  # noqa: E402
from photo_tagger.trainer.export import seen_shots  # noqa: E402
from photo_tagger.trainer.split import FNUMBER_GROUPS, shot_id, split, stratum  # noqa: E402
from photo_tagger.trainer.selfcal import SelfCalOptions, find_photos, self_calibrate  # noqa: E402
from photo_tagger.trainer.starter import Predecessor, build  # noqa: E402
from photo_tagger.trainer.train import TrainConfig, inference_inputs  # noqa: E402
from photos import camera_exif, make_photo  # noqa: E402

SIZE = 96  # small input: the test is about the plumbing, not accuracy
LENSES = [(1.8, 28), (2.8, 50), (4.0, 85), (5.6, 35), (8.0, 24), (2.0, 35), (11.0, 200), (3.5, 18)]


def make_library(root: Path, count: int = 12) -> Path:
    """Labeled photos from one APS-C body (FocalLengthIn35mmFilm gives the crop factor)."""
    for i in range(count):
        fnumber, focal = LENSES[i % len(LENSES)]
        exif = camera_exif(fnumber, focal, make="NIKON CORPORATION", model="NIKON D7000",
                           focal35=round(focal * 1.5), exposure=f"1/{60 * (i + 1)}")
        make_photo(root / f"p{i:02d}.jpg", size=(320, 240), exif=exif, seed=i)
    make_photo(root / "manual.jpg", size=(320, 240), exif=camera_exif(None, None), seed=99)
    for i, fnumber in enumerate((2.0, 5.6, 11.0)):  # a body lensfun does not know: crop factor unknown
        exif = camera_exif(fnumber, 7.0, make="Obscura", model="Pinhole One", exposure=f"1/{250 * (i + 1)}")
        make_photo(root / f"u{i}.jpg", size=(320, 240), exif=exif, seed=50 + i)
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, Path]:
    root = make_library(tmp_path_factory.mktemp("library"))
    out = tmp_path_factory.mktemp("model")
    config = TrainConfig(input_size=SIZE, crops=(1.0, 1.6), heads=HeadConfig(epochs=1))
    found = harvest([root], workers=1)
    info = build(found.photos, config, out, out / "cache", name="tiny-trained.onnx", partial=found.partial)
    return out / "tiny-trained.onnx", info, root


def test_training_run_exports_a_model_that_scan_uses(trained, tmp_path):
    model, info, library = trained
    assert info["export_max_abs_diff"] < 1e-3
    assert {"test", "baseline_test", "test_difference_95", "per_body_test", "training_data"} <= set(info)
    lo, hi = info["test_difference_95"]["fnumber"]["mape"]
    assert lo <= hi and "Model - baseline (95% interval)" in model.with_suffix(".md").read_text()
    assert model.with_suffix(".md").is_file() and model.with_suffix(".json").is_file()
    spec = Predictor(model, "cpu").spec
    assert spec.input_size == SIZE and spec.combine in ("dof", "exposure", "product")
    assert re.fullmatch(r"starter-0\.1\+[0-9a-f]{8}", spec.model_version)  # a rebuild is a new model to scan
    assert f"Version `{spec.model_version}`" in model.with_suffix(".md").read_text()
    assert set(spec.confidence_shift) == {"fnumber", "focal35"}  # calibration measured both
    # focal length's offsets per sensor-size class travel in the file, one per prior row
    assert list(spec.class_shift) == ["focal35"]  # all 0 on this few photos is possible: then format 5 reads it
    assert spec.format_version >= (6 if any(spec.class_shift["focal35"]) else 5)
    assert len(spec.class_shift["focal35"]) == len(spec.prior["crop_bounds"]) + 2
    result = CliRunner().invoke(cli, ["scan", str(library), "--db", str(tmp_path / "t.db"),
                                      "--model", str(model), "--workers", "1"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "1 predicted" in result.output
    assert info["training_data"]["partial_labels"] == 3
    assert "3 more photos whose body's crop factor could not be resolved" in model.with_suffix(".md").read_text()


def test_photos_without_a_crop_factor_teach_aperture_and_exposure_only(trained, tmp_path):
    found = harvest([trained[2]], workers=1)
    assert len(found.photos) == 12 and found.unresolved_crop == 3
    assert sorted(p.fnumber for p in found.partial) == [2.0, 5.6, 11.0]
    for photo in found.partial:  # the focal label is never guessed, the EV100 label is kept
        assert np.isnan(photo.focal35) and photo.ev100 is not None and photo.aux[8] == 0.0
        focal35, aux = relabel(photo.focal35, photo.aux, Variant(crop=2.0))
        assert np.isnan(focal35) and aux[7] == 0.0  # an unknown sensor stays unknown when cropped
    config = TrainConfig(input_size=SIZE, crops=(1.0,), heads=HeadConfig(epochs=2))
    from photo_tagger.trainer.train import default_extractor, fit, base_spec, prepare_data

    extractor = default_extractor(config, tmp_path / "cache")
    data = prepare_data(found.photos, config, extractor, tmp_path / "cache", partial=found.partial)
    assert len(data.extra) == 3 and not set(data.extra) & set(data.val + data.test)
    rows = data.features.rows(data.fitting)
    assert np.array_equal(np.isnan(rows.focal35), np.isin(rows.photo, data.extra))  # only theirs lack it
    assert set(rows.photo) >= set(data.extra) and not np.isnan(rows.fnumber).any()
    fitted = fit(data, base_spec("t", config), config)
    assert all(np.isfinite(list(fitted.spec.temperature.values())))
    # a partial copy of a held-out shot never trains: it would be learned and then scored
    held = found.photos[data.test[0]]
    copy = replace(found.partial[0], body=held.body, fnumber=held.fnumber, ev100=held.ev100)
    again = prepare_data(found.photos, config, extractor, tmp_path / "cache", partial=[copy, *found.partial[1:]])
    assert len(again.extra) == 2
    off = prepare_data(found.photos, replace(config, partial_labels=False), extractor, tmp_path / "cache",
                       partial=found.partial)
    assert off.extra == [] and len(off.photos) == 12


def test_a_model_version_changes_with_its_weights_and_calibration(trained):
    from photo_tagger.trainer.export import fingerprint, heads_from_onnx
    from photo_tagger.trainer.heads import Heads, bin_sizes

    spec = Predictor(trained[0], "cpu").spec
    heads = heads_from_onnx(trained[0], Heads(1280, 9, bin_sizes(spec)))
    same = fingerprint(heads, spec)
    assert fingerprint(heads, spec) == same  # an identical rebuild keeps its version
    assert fingerprint(heads, replace(spec, temperature={**spec.temperature, "fnumber": 9.0})) != same
    with torch.no_grad():
        heads.fnumber.bias[0] += 0.01
    assert fingerprint(heads, spec) != same


def test_onnx_agrees_with_torch_on_a_real_batch_of_any_size(trained):
    model, _, library = trained
    from photo_tagger.trainer.backbone import load_backbone
    from photo_tagger.trainer.export import PhototagNet, check, heads_from_onnx
    from photo_tagger.trainer.heads import Heads, bin_sizes

    spec = Predictor(model, "cpu").spec
    heads = heads_from_onnx(model, Heads(1280, 9, bin_sizes(spec)))
    photos = harvest([library], workers=1).photos
    for batch in (1, 3):
        images, aux = inference_inputs(photos[:batch], spec)
        assert check(PhototagNet(load_backbone("lite0"), heads), model, images, aux) < 1e-3


def test_evaluation_input_is_the_inference_input(trained):
    _, _, library = trained
    spec = default_spec("t", SIZE)
    photos = harvest([library], workers=1).photos
    images, aux = inference_inputs(photos[:2], spec)
    for i, photo in enumerate(photos[:2]):
        scanned = analyse(Task(photo.path, 0, 0, predict_if_labeled=True), spec)
        assert scanned.pixels is not None and scanned.aux is not None
        # what the scan feeds the model: the worker's pixels, normalised with its batch
        assert np.array_equal(images[i], normalise(scanned.pixels[None], spec)[0])
        assert np.array_equal(aux[i], scanned.aux)
        data = Path(photo.path).read_bytes()
        assert np.array_equal(render(data, spec, IDENTITY), prepare(data, spec))


def test_crop_augmentation_changes_labels_like_a_smaller_sensor(trained):
    photo = harvest([trained[2]], workers=1).photos[0]
    focal35, aux = relabel(photo.focal35, photo.aux, Variant(crop=2.0))
    assert focal35 == pytest.approx(photo.focal35 * 2)
    assert aux[7] == pytest.approx(photo.aux[7] + 1.0)  # log2_crop_factor
    image = render(Path(photo.path).read_bytes(), default_spec("t", SIZE), Variant(crop=2.0, jpeg_quality=40))
    assert image.shape == (3, SIZE, SIZE)


def test_split_keeps_copies_of_a_photo_together(trained):
    photos = harvest([trained[2]], workers=1).photos
    doubled = photos + [replace(p, path=p.path + ".copy") for p in photos]
    parts = split(doubled, seed=1)
    for part in parts:
        names = {doubled[i].path.removesuffix(".copy") for i in part}
        for other in parts:
            if other is not part:
                assert not names & {doubled[i].path.removesuffix(".copy") for i in other}


def test_a_model_is_never_tested_on_shots_it_learned_from(trained):
    """Adapting a model that learned from some of these photos: only the others are held out."""
    photos = harvest([trained[2]], workers=1).photos
    assert len({shot_id(p) for p in photos}) == len(photos) == 12
    train, val, test = split(photos, seed=0)
    seen = {shot_id(photos[i]) for i in train + val}
    again = split(photos, seed=0, seen=seen)
    assert again[2] == test  # an unchanged library: the same held-out photos as the first run
    assert sorted(again[0] + again[1] + again[2]) == list(range(12))
    # a library that grew: its test split comes from shots the model never saw, as large a share as before
    grown = photos + [replace(p, path=p.path + ".new", ev100=p.ev100 + 3.0) for p in photos]
    parts = split(grown, seed=0, seen=seen)
    assert parts[2] and not {shot_id(grown[i]) for i in parts[2]} & seen
    fresh = [p for p in grown if shot_id(p) not in seen]
    # dealt per label stratum, each within a shot of its share
    assert abs(len(parts[2]) - 0.15 * len(grown)) <= len({stratum(p) for p in fresh})
    assert sorted(sum(parts, [])) == list(range(len(grown)))
    assert split(photos, seed=0, seen={shot_id(p) for p in photos})[2] == []  # nothing left to test fairly
    assert split(photos, seed=0, seen=frozenset()) == (train, val, test)
    # a model that learned from other photos (the shipped one, on a user's library) changes nothing
    assert split(photos, seed=0, seen={shot_id(replace(p, body="Other")) for p in photos}) == (train, val, test)


def test_a_rebuild_keeps_the_test_split_of_the_model_it_replaces(trained, tmp_path):
    """The starter is rebuilt on the photos it was built on: its test photos, every shot the
    model it replaces never saw, stay the test photos, whatever their share, so the new card's
    figures compare with the old one's and neither model learned a test photo."""
    model, info, library = trained
    found = harvest([library], workers=1)
    previous = Predecessor.of(model)
    assert previous is not None and previous.version == Predictor(model, "cpu").spec.model_version
    old_test = {p.path for p in found.photos if shot_id(p) not in previous.seen}
    assert len(old_test) == info["training_data"]["photos"]["test"] > 0
    # a predecessor that learned fewer shots: all it never saw are test, more than the 15% dealt otherwise
    few = {shot_id(found.photos[i]) for i in split(found.photos, seed=0)[0][:6]}
    kept = split(found.photos, seed=0, seen=few, keep_test=True)
    assert {found.photos[i].path for i in kept[2]} == {p.path for p in found.photos if shot_id(p) not in few}
    assert len(kept[2]) > len(split(found.photos, seed=0, seen=few)[2])
    assert sorted(kept[0] + kept[1] + kept[2]) == list(range(len(found.photos)))
    out = tmp_path / "rebuilt"
    out.mkdir()
    config = TrainConfig(input_size=SIZE, crops=(1.0,), heads=HeadConfig(epochs=1), seed=3)  # another dealing
    again = build(found.photos, config, out, tmp_path / "cache", name="tiny-trained.onnx",
                  partial=found.partial, previous=previous)
    rebuilt = out / "tiny-trained.onnx"
    assert again["training_data"]["test_kept_from"] == previous.version
    assert {p.path for p in found.photos if shot_id(p) not in seen_shots(rebuilt)} == old_test
    assert seen_shots(rebuilt) == previous.seen  # so the next rebuild keeps it again
    assert f"the photos `{previous.version}`, the model this one replaced, never learned from" in \
        rebuilt.with_suffix(".md").read_text()
    assert "replaced" not in model.with_suffix(".md").read_text()  # a first build deals its own


def test_each_label_stratum_splits_in_proportion_and_one_changed_photo_moves_few_others(trained):
    """Fixing one photo's label (or adding or dropping one) must not reshuffle the test split:
    the starter is rebuilt when a label is corrected, and its card's figures should still be
    about nearly the same photos."""
    base = harvest([trained[2]], workers=1).photos[0]
    stops = (1.4, 2.0, 2.8, 4.0, 5.6, 8.0, 11.0, 16.0, 22.0)
    photos = [replace(base, path=f"s{i}.jpg", fnumber=stops[i % 9], focal35=(18, 28, 50, 105, 300)[i % 5] * 1.1,
                      ev100=float(i)) for i in range(300)]
    where = dict(zip(("train", "val", "test"), split(photos, seed=0)))
    part = {photos[i].path: name for name, indices in where.items() for i in indices}
    assert len(part) == 300
    for name, share in zip(("train", "val", "test"), (0.7, 0.15, 0.15)):
        assert abs(len(where[name]) - share * 300) <= 1.0  # overall, within a photo of its share
        for key in {stratum(p) for p in photos}:  # and within a photo or two in every label stratum
            members = [p.path for p in photos if stratum(p) == key]
            assert abs(sum(part[m] == name for m in members) - share * len(members)) < 2.0

    def moved(other: list) -> set[str]:
        again = {other[i].path: name for name, indices in zip(where, split(other, seed=0)) for i in indices}
        return {path for path in again if path in part and again[path] != part[path]}

    assert moved(list(reversed(photos))) == set()  # the order photos were found in changes nothing
    dropped = photos[:40] + photos[41:]
    elsewhere = [m for m in moved(dropped) if stratum(photos[int(m[1:-4])]) != stratum(photos[40])]
    assert len(moved(dropped)) <= 5 and len(elsewhere) <= 2  # its stratum's arcs, and the overall top-up
    relabelled = list(photos)
    relabelled[7] = replace(photos[7], fnumber=FNUMBER_GROUPS[0] / 2)  # another f-number group
    assert len(moved(relabelled) - {photos[7].path}) <= 8
    assert split(photos, seed=1) != split(photos, seed=0)
    # one photo in each stratum: where each lands is its stratum's draw, so over seeds the
    # held-out photos still come to their share rather than every lone photo going to train
    singles = [replace(base, path=f"o{i}.jpg", fnumber=(1.4, 3.2, 5.6, 11.0, 22.0)[i % 5],
                       focal35=(18, 28, 50, 105, 300)[i // 5] * 1.0, ev100=float(i)) for i in range(25)]
    assert len({stratum(p) for p in singles}) == 25
    assert 0.1 < np.mean([len(split(singles, seed=s)[2]) for s in range(40)]) / 25 < 0.2
    # a burst of 12 copies of one shot beside 11 other shots: never half the held-out or validation photos
    burst = ([replace(base, path=f"b{i}.jpg") for i in range(12)]
             + [replace(base, path=f"c{i}.jpg", ev100=100.0 + i) for i in range(11)])
    for s in range(20):
        _, val, test = split(burst, seed=s)
        assert 0 < len(test) <= 0.15 * 23 + 1 and 0 < len(val) <= 0.15 * 23 + 1


def test_a_shots_name_tells_zoomed_shots_apart_and_survives_a_crop_factor_set_later(trained):
    """A compact zoomed at the same aperture and exposure took two shots, not one: marking
    one seen must not take the other out of the held-out photos. A photo whose crop factor
    was unknown when a model learned from it is the same shot once the user sets it."""
    photos = harvest([trained[2]], workers=1).photos
    zooms = [replace(p, path=p.path + ".zoom", focal35=p.focal35 * 2, focal=p.focal * 2) for p in photos]
    pairs = photos + zooms
    assert len({shot_id(p) for p in pairs}) == 24
    train, val, test = split(pairs, seed=0)
    seen = {shot_id(pairs[i]) for i in train + val}
    assert split(pairs, seed=0, seen=seen)[2] == test  # an unchanged library: the same held-out photos
    aux = photos[0].aux.copy()
    aux[list(AUX_FEATURES).index("log2_crop_factor")] = 0.0
    aux[list(AUX_FEATURES).index("has_crop_factor")] = 0.0
    unknown = replace(photos[0], focal35=float("nan"), crop=float("nan"), aux=aux)
    assert shot_id(unknown) == shot_id(photos[0]) and photos[0].focal == 28


def test_a_second_adaptation_is_tested_only_on_photos_the_first_never_learned_from(trained, phototag_home, tmp_path):
    model, _, library = trained
    found = harvest([library], workers=1)
    # the build names the shots it learned from: all but its own test split (partial labels too)
    built_train, built_val, built_test = split(found.photos, TrainConfig().fractions, TrainConfig().seed)
    assert seen_shots(model) == ({shot_id(found.photos[i]) for i in built_train + built_val}
                                 | {shot_id(p) for p in found.partial})
    options = SelfCalOptions((str(library),), epochs=2, min_photos=5, base_model=model, workers=1)
    first = self_calibrate(options, found, scratch=tmp_path / "one")
    assert first.base_learned == len(built_train + built_val)
    assert 0 < len(first.test_photos) and set(first.test_photos) <= {found.photos[i].path for i in built_test}
    candidate = tmp_path / "one" / "candidate.onnx"
    seen = seen_shots(candidate)
    held = {shot_id(p) for p in found.photos if p.path in first.test_photos}
    assert not held & seen
    assert seen >= {shot_id(p) for p in found.photos if p.path not in first.test_photos}
    assert "+self-" in Predictor(candidate, "cpu").spec.model_version  # the spec is intact beside them

    result = CliRunner().invoke(train_command, [str(library), "--min-photos", "5", "--epochs", "2", "--model",
                                                str(candidate), "--workers", "1"])
    assert result.exit_code == 0, result.output
    learned = len(found.photos) - len(first.test_photos)
    assert f"{learned} of the labeled photos are ones candidate.onnx learned from" in result.output
    grown = tmp_path / "grown"  # the library a month later: the same photos and twelve new shots
    shutil.copytree(library, grown)
    for i in range(12):
        fnumber, focal = LENSES[(i + 3) % len(LENSES)]
        exif = camera_exif(fnumber, focal, make="NIKON CORPORATION", model="NIKON D7000",
                           focal35=round(focal * 1.5), exposure=f"1/{1000 + 10 * i}")
        make_photo(grown / f"n{i:02d}.jpg", size=(320, 240), exif=exif, seed=400 + i)
    more = harvest([grown], workers=1)
    second = self_calibrate(replace(options, base_model=candidate), more, scratch=tmp_path / "two")
    assert second.base_learned == learned and len(second.test_photos) >= 3
    assert not {shot_id(p) for p in more.photos if p.path in second.test_photos} & seen
    assert seen_shots(tmp_path / "two" / "candidate.onnx") >= seen  # it starts from the first's heads
    known = tmp_path / "known"  # only photos the first model learned from: nothing to test it on fairly
    known.mkdir()
    for photo in found.photos + found.partial:
        if photo.path not in first.test_photos:
            shutil.copy2(photo.path, known / Path(photo.path).name)
    refused = CliRunner().invoke(train_command, [str(known), "--min-photos", "5", "--epochs", "1", "--model",
                                                 str(candidate), "--workers", "1"])
    assert refused.exit_code == 1 and "every labeled photo here is one candidate.onnx learned from" in refused.output


def test_train_refuses_too_few_photos_and_lists_bodies(trained):
    result = CliRunner().invoke(train_command, [str(trained[2]), "--min-photos", "50", "--model", str(trained[0])])
    assert result.exit_code == 1
    assert "12 labeled photos found" in result.output and "NIKON D7000" in result.output
    assert "3 more with an unknown crop factor teach aperture and exposure only" in result.output
    assert "at least 50" in result.output


def test_train_leaves_out_photos_the_user_placed_on_a_manual_lens(trained, tmp_path):
    """An adapter chip's EXIF (here f/1.4 at 50 mm on every shot) is not a label: photos a
    lens rule or their LensModel put on one of the user's manual lenses teach nothing."""
    library, db = trained[2], tmp_path / "phototag.db"
    chipped = tmp_path / "chipped"
    for i in range(4):  # a focus-confirm chip: the focal length it was programmed with, the dialed aperture
        exif = camera_exif(1.4, 50.0, make="NIKON CORPORATION", model="NIKON D7000", focal35=75)
        make_photo(chipped / "helios" / f"c{i}.jpg", size=(320, 240), exif=exif, seed=200 + i)
    listed = camera_exif(2.0, 58.0, make="NIKON CORPORATION", model="NIKON D7000", focal35=87)
    make_photo(chipped / "listed.jpg", size=(320, 240), exif=listed | {"Exif.Photo.LensModel": "Helios-44 58mm"}, seed=210)
    runner = CliRunner()
    assert runner.invoke(cli, ["lens", "add", "Helios-44", "--focal", "58", "--aperture", "2-16", "--chipped",
                               "--db", str(db)]).exit_code == 0
    assert runner.invoke(cli, ["lens", "assign", "Helios-44", "--folder", str(chipped / "helios"), "--db", str(db)]).exit_code == 0

    plain = harvest([library, chipped], workers=1)
    assert len(plain.photos) == 12 + 5  # without the lens book their EXIF would pass for labels
    result = runner.invoke(train_command, [str(library), str(chipped), "--min-photos", "50", "--model", str(trained[0]),
                                           "--workers", "1", "--db", str(db)])
    assert result.exit_code == 1 and "at least 50" in result.output
    assert "12 labeled photos found" in result.output
    assert "also left out: 5 with lens EXIF that your lens rules or their LensModel place on one of your manual lenses" in result.output
    assert "\n     12  NIKON D7000" in result.output  # the per-body count no longer holds the chip's shots


def test_self_calibration_compares_on_held_out_photos(trained, phototag_home):
    model, _, library = trained
    result = CliRunner().invoke(train_command, [str(library), "--min-photos", "5", "--epochs", "3",
                                                "--model", str(model), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "current" in result.output and "adapted" in result.output
    assert "adapted - current, 95% interval" in result.output and "cannot tell the two models apart" in result.output
    assert re.search(r"FNumber within one stop .* [+-]\d\.\d{3} to [+-]\d\.\d{3}", result.output), result.output
    # the run leaves its photos' features for the next one, and no candidate model behind
    found = harvest([library], workers=1)
    with FeatureCache(phototag_home / "train-cache") as cache:
        assert cache.count() == len(found.photos) + len(found.partial)
    assert sorted(p.name for p in phototag_home.iterdir()) in (["train-cache"], ["models", "train-cache"])
    active = phototag_home / "models" / "active.json"
    if "installed" in result.output:
        name = json.loads(active.read_text())["model"]
        assert (phototag_home / "models" / name).is_file()
        assert not list((phototag_home / "models").glob(".*"))  # no half-installed file left behind
        card = (phototag_home / "models" / name).with_suffix(".md").read_text()
        assert f"Version `{Predictor(phototag_home / 'models' / name, 'cpu').spec.model_version}`" in card
        listed = CliRunner().invoke(models_command, ["--format", "json"])
        assert any(r["name"] == name and r["active"] for r in json.loads(listed.output))
    else:
        assert "kept" in result.output and not active.exists()


def test_train_names_and_skips_a_photo_whose_pixels_do_not_decode(trained, phototag_home, tmp_path):
    """Its EXIF reads (the head of the file is intact), so it passes for a labeled photo until
    its pixels are decoded: that one photo is named and left out, the run goes on."""
    model, _, library = trained
    copy = tmp_path / "library"
    shutil.copytree(library, copy)
    whole = Path(harvest([copy], workers=1).photos[0].path)
    data = whole.read_bytes()
    (copy / "truncated.jpg").write_bytes(data[: len(data) // 2])
    result = CliRunner().invoke(train_command, [str(copy), "--min-photos", "5", "--epochs", "2",
                                                "--model", str(model), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert f"skipped: {copy / 'truncated.jpg'}: the image data is damaged" in result.output, result.output
    assert "13 labeled photos found" in result.output and "0 unreadable" in result.output  # its EXIF reads
    assert "current" in result.output and "adapted" in result.output


def test_held_out_photos_of_a_single_shot_get_no_interval_that_looks_certain(trained, phototag_home, tmp_path):
    """A library of bursts (two frames per setting) holds out one burst: one case, whatever
    its photo count. Resampling it gives the same photos every time, and an interval of
    "+1.000 to +1.000" would read as certainty."""
    library = tmp_path / "bursts"
    for i in range(12):
        fnumber, focal = LENSES[(i // 2) % len(LENSES)]
        exif = camera_exif(fnumber, focal, make="NIKON CORPORATION", model="NIKON D7000",
                           focal35=round(focal * 1.5), exposure=f"1/{45 * (i // 2 + 1)}")  # shots it never saw
        make_photo(library / f"b{i:02d}.jpg", size=(320, 240), exif=exif, seed=200 + i)
    result = CliRunner().invoke(train_command, [str(library), "--min-photos", "5", "--epochs", "1",
                                                "--model", str(trained[0]), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "tested on 2 held-out photos" in result.output
    assert "are a single shot" in result.output and "nan" not in result.output
    assert re.search(r"FNumber within one stop .* n/a", result.output), result.output
    installed = list((phototag_home / "models").glob("*.md")) if (phototag_home / "models").exists() else []
    for card in installed:
        text = card.read_text()
        assert "are a single shot" in text and "95% interval" not in text


def test_adaptations_finished_together_keep_their_own_version_and_files(trained, phototag_home, tmp_path, monkeypatch):
    """Scan redoes a photo only when the model version differs, and install names files by
    the clock: two adapted models made at one moment must still differ in both."""
    import shutil
    import time

    from photo_tagger.trainer.export import PhototagNet, heads_from_onnx
    from photo_tagger.trainer.heads import Heads, bin_sizes
    from photo_tagger.trainer.selfcal import adapted_version, base_backbone, install

    model = trained[0]
    spec = Predictor(model, "cpu").spec
    net = PhototagNet(base_backbone(model, spec, "lite0"), heads_from_onnx(model, Heads(1280, 9, bin_sizes(spec))))
    moment, strftime = time.localtime(), time.strftime
    monkeypatch.setattr(time, "strftime", lambda fmt, when=moment: strftime(fmt, when))  # one frozen second
    first = adapted_version(spec.model_version, net, spec)
    assert adapted_version(spec.model_version, net, spec) == first  # the same network keeps its version
    with torch.no_grad():  # a backbone weight alone (what --finetune tunes) moves it too
        next(net.backbone.parameters()).view(-1)[0] += 0.01
    second = adapted_version(spec.model_version, net, spec)
    assert second != first and first.startswith(spec.model_version + "+self-")
    paths = []
    for n, version in enumerate((first, second)):
        candidate = tmp_path / f"candidate{n}.onnx"
        shutil.copyfile(model, candidate)
        paths.append(install(candidate, net, replace(spec, model_version=version)))
    assert paths[0] != paths[1]
    for path, version in zip(paths, (first, second)):
        assert Predictor(path, "cpu").spec.model_version == version
        assert f"Version `{version}`" in path.with_suffix(".md").read_text()
    assert json.loads((phototag_home / "models" / "active.json").read_text())["model"] == paths[1].name


def test_models_lists_models_without_torch_in_scan_path():
    code = ("import sys; import photo_tagger.cli, photo_tagger.cli_train, photo_tagger.trainer.catalog; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_train_without_the_extra_explains_how_to_install(monkeypatch, tmp_path):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    result = CliRunner().invoke(train_command, [str(tmp_path)])
    assert result.exit_code == 1
    assert "pip install 'phototag[train]'" in result.output


def test_a_model_in_equivalent_aperture_units_trains_exports_and_scans(tmp_path, phototag_home):
    """The depth-of-field head learns N x crop (a full-frame f/2 photo and an APS-C f/1.4
    one look alike), the file says so, and scan converts with each body's crop factor."""
    from photo_tagger.equivalent import dof_bins
    from photo_tagger.trainer.features import FeatureSet
    from photo_tagger.trainer.heads import targets

    root = make_library(tmp_path / "library")
    config = TrainConfig(input_size=SIZE, crops=(1.0,), heads=HeadConfig(epochs=1), dof_units="equivalent")
    from photo_tagger.trainer.train import base_spec

    spec = base_spec("t", config)
    with pytest.raises(ValueError, match="dof_units"):
        base_spec("t", replace(config, dof_units="equivalant"))
    aux = np.zeros((2, 9), np.float32)
    aux[0, 7:] = (0.0, 1.0)
    aux[1, 7:] = (0.0, 0.0)  # crop factor unknown: no depth-of-field label at all
    rows = FeatureSet(np.zeros((2, 4), np.float32), aux, np.asarray([2.0, 2.0]), np.full(2, np.nan),
                      np.full(2, np.nan), np.arange(2), np.ones(2, bool))
    soft = targets(spec, rows, config.heads)[0].numpy()
    assert dof_bins(spec)[soft[0].argmax()] == pytest.approx(2.0) and soft[1].sum() == 0.0
    found = harvest([root], workers=1)
    out = tmp_path / "model"
    info = build(found.photos, config, out, out / "cache", name="eq.onnx", partial=found.partial)
    assert info["export_max_abs_diff"] < 1e-3
    predictor = Predictor(out / "eq.onnx", "cpu")
    assert predictor.spec.dof_units == "equivalent"
    crops = np.asarray(predictor.spec.crop_prior)  # the D7000's, as each photo's focal lengths give it
    assert np.allclose(crops[:, 0], 1.5, atol=0.011) and crops[:, 1].sum() == pytest.approx(1.0, abs=1e-4)
    images, aux = inference_inputs(found.photos[:2], predictor.spec)
    assert all(1.0 <= e.fnumber <= 32.0 for e in predictor.predict(images, aux))
    result = CliRunner().invoke(cli, ["scan", str(root), "--db", str(tmp_path / "t.db"),
                                      "--model", str(out / "eq.onnx"), "--workers", "1"], catch_exceptions=False)
    assert result.exit_code == 0 and "1 predicted" in result.output, result.output
    # self-calibration adapts it in its own units, with the library's own crop factors
    options = SelfCalOptions((str(root),), epochs=3, min_photos=5, base_model=out / "eq.onnx", workers=1)
    self_calibrate(options, find_photos(options), scratch=tmp_path)
    adapted = [tmp_path / "candidate.onnx", *(phototag_home / "models").glob("*.onnx")]
    assert all(Predictor(m, "cpu").spec.dof_units == "equivalent" for m in adapted)
