"""Cross-fitted head ensembles: folds, the averaged output, honest calibration rows, export, adapt."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from click.testing import CliRunner  # noqa: E402

from photo_tagger.cli import cli  # noqa: E402
from photo_tagger.infer import Predictor  # noqa: E402
from photo_tagger.modelspec import default_spec  # noqa: E402
from photo_tagger.trainer.ensemble import ensemble_calibration_set, fitting_without, pool  # noqa: E402
from photo_tagger.trainer.backbone import load_backbone  # noqa: E402
from photo_tagger.trainer.export import PhototagNet, check, head_members, heads_from_onnx  # noqa: E402
from photo_tagger.trainer.harvest import harvest  # noqa: E402
from photo_tagger.trainer.heads import HeadConfig, HeadEnsemble, Heads, bin_sizes, logits  # noqa: E402
from photo_tagger.trainer.split import copy_key, folds, shot_key  # noqa: E402
from photo_tagger.trainer.selfcal import SelfCalOptions, find_photos, install, self_calibrate  # noqa: E402
from photo_tagger.trainer.starter import build  # noqa: E402
from photo_tagger.trainer.train import (TrainConfig, base_spec, default_extractor, heads_only,  # noqa: E402
                                        inference_inputs, prepare_data)
from test_trainer import SIZE, make_library  # noqa: E402

CONFIG = TrainConfig(input_size=SIZE, crops=(1.0, 1.6), members=3, heads=HeadConfig(epochs=2))


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_library(tmp_path_factory.mktemp("library"), count=16)


@pytest.fixture(scope="module")
def ensemble_model(library: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("model")
    found = harvest([library], workers=1)
    info = build(found.photos, CONFIG, out, out / "cache", name="tiny-ensemble.onnx", partial=found.partial)
    return out / "tiny-ensemble.onnx", info


def test_folds_cover_the_photos_once_and_keep_copies_together(library):
    photos = harvest([library], workers=1).photos
    doubled = photos + [replace(p, path=p.path + ".copy") for p in photos]
    indices = list(range(0, len(doubled), 1))
    parts = folds(doubled, indices, 4, seed=3)
    assert sorted(i for part in parts for i in part) == indices
    assert max(map(len, parts)) - min(map(len, parts)) <= 4  # shots of two copies each: near equal
    for a, part in enumerate(parts):
        for b, other in enumerate(parts):
            if a != b:
                assert not {copy_key(doubled[i]) for i in part} & {copy_key(doubled[i]) for i in other}


def test_ensemble_output_is_the_log_of_the_members_mean_probability():
    torch.manual_seed(0)
    members = [Heads(6, 9, {"fnumber": 5, "focal35": 4, "ev100": 3}, dropout=0.0) for _ in range(3)]
    for m in members:
        m.eval()
    features, aux = torch.randn(7, 6), torch.randn(7, 9)
    with torch.no_grad():
        got = HeadEnsemble(members).eval()(features, aux)
        each = [m(features, aux) for m in members]
    for t in range(3):
        want = np.mean([torch.softmax(o[t], 1).numpy() for o in each], axis=0)
        assert np.allclose(np.exp(got[t].numpy()), want, atol=1e-6)
        assert not np.allclose(got[t].numpy(), each[0][t].numpy())  # not just one member's answer


def test_calibration_rows_are_every_pool_photo_predicted_without_it(library, tmp_path):
    found = harvest([library], workers=1)
    extractor = default_extractor(CONFIG, tmp_path / "cache")
    data = prepare_data(found.photos, CONFIG, extractor, tmp_path / "cache", partial=found.partial)
    # the validation photos train members too, so they are augmented like training photos
    assert all(any(not v.is_identity for v in data.plans[i]) for i in data.val)
    heads, history, cal = ensemble_calibration_set(data, base_spec("t", CONFIG), CONFIG)
    assert isinstance(heads, HeadEnsemble) and len(heads.members) == len(history) == 3
    assert sorted(cal.rows.photo.tolist()) == pool(data)  # each non-test photo once, never a test one
    assert cal.rows.identity.all() and cal.priors is not None and len(cal.priors["fnumber"]) == len(cal.rows.photo)
    # the members alone (where fine-tuning starts) are the same heads, without the nested fits
    alone = heads_only(data, base_spec("t", CONFIG), CONFIG)
    assert isinstance(alone, HeadEnsemble) and len(alone.members) == 3
    want = logits(heads, cal.rows)
    for key, value in logits(alone, cal.rows).items():
        assert np.allclose(value, want[key], atol=1e-5)
    held = data.val[:2]  # a partial label that copies a held shot must not train its predictor
    copy = next(i for i in data.extra)
    data.photos[copy] = replace(data.photos[copy], body=data.photos[held[0]].body,
                                fnumber=data.photos[held[0]].fnumber, ev100=data.photos[held[0]].ev100)
    assert shot_key(data.photos[copy]) == shot_key(data.photos[held[0]])
    rest = fitting_without(data, held)
    assert not set(rest) & set(held + data.test) and copy not in rest
    assert set(data.extra) - {copy} <= set(rest)


def test_an_ensemble_model_exports_scans_and_loads_back(ensemble_model, library, tmp_path):
    model, info = ensemble_model
    assert head_members(model) == 3 and info["export_max_abs_diff"] < 1e-3
    assert info["training_data"]["members"] == 3
    spec = Predictor(model, "cpu").spec
    heads = heads_from_onnx(model, HeadEnsemble([Heads(1280, 9, bin_sizes(spec)) for _ in range(3)]))
    assert isinstance(heads, HeadEnsemble)
    # every member came back with its own weights: torch rebuilt from them agrees with the file
    photos = harvest([library], workers=1).photos[:3]
    assert check(PhototagNet(load_backbone("lite0"), heads), model, *inference_inputs(photos, spec)) < 1e-3
    with pytest.raises(KeyError):  # a single-head template cannot load an ensemble's weights
        heads_from_onnx(model, Heads(1280, 9, bin_sizes(spec)))
    result = CliRunner().invoke(cli, ["scan", str(library), "--db", str(tmp_path / "t.db"),
                                      "--model", str(model), "--workers", "1"], catch_exceptions=False)
    assert result.exit_code == 0 and "1 predicted" in result.output, result.output
    assert default_spec("x", SIZE).input_size == spec.input_size


def test_self_calibration_adapts_every_member_of_an_ensemble(ensemble_model, library, phototag_home, tmp_path):
    model, _ = ensemble_model
    options = SelfCalOptions((str(library),), epochs=3, min_photos=5, base_model=model, workers=1)
    found, ready = find_photos(options), []
    result = self_calibrate(options, found, scratch=tmp_path, progress=ready.append)
    assert head_members(tmp_path / "candidate.onnx") == 3
    assert sum(ready) == len(found.photos) + len(found.partial)  # every photo's features, once
    # installing puts that very file in place, its spec stamped, and makes it the active model
    spec = Predictor(tmp_path / "candidate.onnx", "cpu").spec
    installed = install(tmp_path / "candidate.onnx", None, replace(spec, model_version="installed-1", info=result.info))
    assert Predictor(installed, "cpu").spec.model_version == "installed-1"
    # its card speaks of its own calibration and training (3 epochs a member; the base had 2),
    # not the base model's, and sets it beside the base on the same held-out photos
    info, card = json.loads(installed.with_suffix(".json").read_text()), installed.with_suffix(".md").read_text()
    assert info["validation"]["confidence_shift"] == spec.confidence_shift
    assert [h["epochs_run"] for h in info["validation"]["training"]] == [3, 3, 3]
    assert f"log-odds shifted by {spec.confidence_shift}" in card
    assert f"Adapted from {model.name} (`{Predictor(model, 'cpu').spec.model_version}`)" in card
    assert f"On the same held-out photos, {model.name} scored: FNumber within one stop" in card
    assert "| Body | n |" in card and "| dof |" in card and "Mostly phones" not in card
    assert json.loads((installed.parent / "active.json").read_text()) == {"model": installed.name}
    assert not list(installed.parent.glob(".*"))


def test_a_merged_member_tensor_is_restored_only_when_unambiguous():
    from photo_tagger.trainer.export import _deduplicated

    ones, other = np.ones(9, np.float32), np.arange(9, dtype=np.float32)
    merged = {"heads.members.0.aux_mask": ones, "heads.members.2.aux_mask": ones, "heads.members.1.aux_std": other}
    assert np.array_equal(_deduplicated(merged, "members.1.aux_mask"), ones)
    assert _deduplicated(merged, "members.0.aux_std") is not None  # one survivor: it is the merged one
    differing = {"heads.members.0.aux_mask": ones, "heads.members.2.aux_mask": other}
    assert _deduplicated(differing, "members.1.aux_mask") is None
    assert _deduplicated(merged, "aux_mask") is None  # a single head has nothing to merge with
