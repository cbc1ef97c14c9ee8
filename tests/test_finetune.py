"""`--finetune`: the backbone's last blocks train with the heads, export agrees, the CLI runs it."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from click.testing import CliRunner  # noqa: E402

from photo_tagger.cli_train import models_command, train_command  # noqa: E402
from photo_tagger.trainer.backbone import load_backbone  # noqa: E402
from photo_tagger.trainer.export import PhototagNet, check, export  # noqa: E402
from photo_tagger.modelspec import default_spec  # noqa: E402
from photo_tagger.trainer.features import extract, extract_to_file  # noqa: E402
from photo_tagger.trainer.finetune import (BACKBONE_SUFFIX, SPARE_BYTES, _PrefixMaps, check_room,  # noqa: E402
                                           finetune, map_bytes, save_backbone)
from photo_tagger.trainer.harvest import harvest  # noqa: E402
from photo_tagger.trainer.heads import HeadConfig  # noqa: E402
from photo_tagger.trainer.selfcal import TrainError, base_backbone  # noqa: E402
from photo_tagger.trainer.train import (FinetuneConfig, TrainConfig, base_spec, default_extractor,  # noqa: E402
                                        fit, inference_inputs, prepare_data)
from test_trainer import SIZE, make_library  # noqa: E402

CONFIG = TrainConfig(input_size=SIZE, crops=(1.0, 1.6), calibration_folds=2, heads=HeadConfig(epochs=2),
                     finetune=FinetuneConfig(blocks=2, epochs=2))


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Heads on cached features, then two blocks fine-tuned, recalibrated and exported."""
    root = make_library(tmp_path_factory.mktemp("library"))
    out = tmp_path_factory.mktemp("model")
    photos = harvest([root], workers=1).photos
    data = prepare_data(photos, CONFIG, default_extractor(CONFIG, out / "cache"), out / "cache")
    base = base_spec("ft-test", CONFIG)
    # validated on its own training photos, so the first epoch surely improves on the start
    # (a real 2-photo validation split may keep the untouched start as its best checkpoint)
    tuning = replace(data, val=data.train)
    scratch = out / "scratch"
    scratch.mkdir()
    result = finetune(load_backbone("lite0"), fit(data, base, CONFIG).heads, tuning, base, CONFIG, scratch)
    result.data = replace(result.data, val=data.val)
    fitted = fit(result.data, base, CONFIG, result.heads)
    spec = replace(fitted.spec, info={**fitted.spec.info, "finetuned_blocks": 2})
    net = PhototagNet(result.backbone, fitted.heads)
    path = out / "tuned.onnx"
    export(net, spec, path)
    save_backbone(result.backbone, path)
    return {"data": data, "result": result, "net": net, "spec": spec, "path": path, "root": root,
            "scratch": scratch}


def test_finetune_trains_the_last_blocks_only(tuned):
    pristine, backbone = load_backbone("lite0").state_dict(), tuned["result"].backbone.state_dict()
    start = len(tuned["result"].backbone._blocks) - 2
    changed = {k for k in pristine if not torch.equal(pristine[k], backbone[k])}
    assert any(k.startswith(f"_blocks.{start + 1}.") for k in changed)
    assert any(k.startswith("_conv_head.") for k in changed)
    frozen = [k for k in changed if k.startswith(("_conv_stem", "_bn0", "_fc"))
              or (k.startswith("_blocks.") and int(k.split(".")[1]) < start)]
    assert not frozen, frozen
    assert not any("running_" in k for k in changed)  # batch norm stayed in eval mode
    report = tuned["result"].report
    assert report["blocks"] == 2 and report["device"] in ("cpu", "cuda") and report["best_epoch"] >= 0


def test_feature_maps_go_to_disk_and_equal_the_in_memory_ones(tuned, tmp_path):
    """The file-backed maps are the rows extract() computes in memory, in the same order,
    read back without loading the file; finetune deletes its file when done."""
    assert not list(tuned["scratch"].iterdir())
    data = tuned["data"]
    backbone = load_backbone("lite0")
    maps = _PrefixMaps(backbone, backbone.num_blocks - 2, torch.device("cpu"))
    spec = default_spec("features", SIZE)
    on_disk = extract_to_file(data.photos, data.plans, spec, maps, tmp_path / "maps.npy")
    in_memory = extract(data.photos, data.plans, spec, maps)
    assert isinstance(on_disk.features, np.memmap) and not on_disk.features.flags.writeable
    assert on_disk.features.shape == in_memory.features.shape == (len(data.features.photo), 192, SIZE // 32, SIZE // 32)
    assert np.array_equal(np.asarray(on_disk.features), in_memory.features)
    for key in ("aux", "fnumber", "focal35", "photo", "identity"):
        assert np.array_equal(getattr(on_disk, key), getattr(in_memory, key))
    assert map_bytes(backbone, backbone.num_blocks - 2, SIZE) == 192 * (SIZE // 32) ** 2 * 4


def test_labels_leave_the_features_behind(tuned):
    rows = tuned["data"].features
    index = rows.indices(tuned["data"].train)
    labels = rows.labels(index)
    assert labels.features.shape == (len(index), 0)
    assert np.array_equal(labels.fnumber, rows.rows(tuned["data"].train).fnumber)
    assert np.array_equal(labels.aux, rows.aux[index])


def test_finetune_refuses_when_its_maps_would_not_fit_on_the_disk(tmp_path):
    free = shutil.disk_usage(tmp_path).free
    with pytest.raises(TrainError, match=r"--finetune needs .* GB free in .*PHOTOTAG_HOME"):
        check_room(tmp_path / "maps.npy", free)  # fits, but not with the spare room left over
    if free > 2 * SPARE_BYTES:
        check_room(tmp_path / "maps.npy", 1000)


def test_calibration_sees_the_tuned_features(tuned):
    before, after = tuned["data"].features, tuned["result"].data.features
    assert np.array_equal(before.photo, after.photo) and np.array_equal(before.identity, after.identity)
    assert after.features.shape == before.features.shape
    assert not np.allclose(before.features, after.features)


def test_exported_tuned_model_agrees_with_torch(tuned):
    photos = harvest([tuned["root"]], workers=1).photos
    assert check(tuned["net"], tuned["path"], *inference_inputs(photos[:3], tuned["spec"])) < 1e-3


def test_tuned_backbone_is_kept_beside_the_model(tuned, tmp_path):
    loaded = base_backbone(tuned["path"], tuned["spec"], "lite0")
    for key, value in tuned["result"].backbone.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    lone = tmp_path / "lone.onnx"
    lone.write_bytes(tuned["path"].read_bytes())  # a fine-tuned model without its weights file
    with pytest.raises(TrainError, match="backbone.pt"):
        base_backbone(lone, tuned["spec"], "lite0")


def test_train_finetune_end_to_end(tuned, phototag_home):
    result = CliRunner().invoke(train_command, [str(tuned["root"]), "--finetune", "--min-photos", "5",
                                                "--epochs", "3", "--model", str(tuned["path"]), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "fine-tuned the last 2 blocks" in result.output
    assert "current" in result.output and "adapted" in result.output
    if "installed" in result.output:
        name = json.loads((phototag_home / "models" / "active.json").read_text())["model"]
        assert (phototag_home / "models" / name).with_suffix(BACKBONE_SUFFIX).is_file()
    else:
        assert "kept" in result.output


def test_models_lists_a_fine_tuned_models_weights(tuned, phototag_home):
    folder = phototag_home / "models"
    folder.mkdir(parents=True, exist_ok=True)
    model = folder / "mine.onnx"
    model.write_bytes(tuned["path"].read_bytes())
    weights = model.with_suffix(BACKBONE_SUFFIX)
    weights.write_bytes(tuned["path"].with_suffix(BACKBONE_SUFFIX).read_bytes())
    rows = {r["name"]: r for r in json.loads(CliRunner().invoke(models_command, ["--format", "json"]).output)}
    assert rows["mine.onnx"]["finetuned_blocks"] == 2 and rows["mine.onnx"]["finetuned_weights"] == str(weights)
    assert "mine.backbone.pt" in CliRunner().invoke(models_command).output
    weights.unlink()  # deleted by hand: say so, since `train` can no longer start from this model
    table = CliRunner().invoke(models_command).output
    assert "weights file is missing" in table


def test_heads_only_training_leaves_finetuning_off():
    assert TrainConfig().finetune.blocks == 0
    assert TrainConfig().to_dict()["finetune"]["blocks"] == 0
