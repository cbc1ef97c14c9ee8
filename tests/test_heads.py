"""What each head is allowed to see, and that an exported file keeps it so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from photo_tagger.modelspec import AUX_FEATURES, default_spec  # noqa: E402
from photo_tagger.trainer.backbone import load_backbone  # noqa: E402
from photo_tagger.trainer.export import HEAD_PREFIX, PhototagNet, export, heads_from_onnx  # noqa: E402
from photo_tagger.trainer.features import FeatureSet  # noqa: E402
from photo_tagger.trainer.heads import HeadConfig, Heads, bin_sizes, new_heads  # noqa: E402

SETTINGS = [AUX_FEATURES.index(n) for n in ("log2_exposure_time", "log2_iso_over_100")]


def rows(n: int = 6, seed: int = 0) -> FeatureSet:
    rng = np.random.default_rng(seed)
    return FeatureSet(rng.normal(size=(n, 1280)).astype(np.float32), rng.normal(size=(n, 9)).astype(np.float32),
                      np.full(n, 4.0), np.full(n, 50.0), np.full(n, 10.0), np.arange(n), np.ones(n, bool))


def outputs(heads: Heads, aux: np.ndarray) -> list[np.ndarray]:
    heads.eval()
    with torch.no_grad():
        return [o.numpy() for o in heads(torch.from_numpy(rows().features), torch.from_numpy(aux))]


def test_the_ev_head_can_be_kept_from_reading_the_exposure_settings():
    """Without exposure time and ISO the EV100 head must judge the scene from its pixels
    (and flash, exposure compensation); the FNumber head still sees them."""
    data = rows()
    spec = default_spec("t")
    for see, ev_moves in ((True, True), (False, False)):
        heads = new_heads(spec, data, HeadConfig(ev_exposure_inputs=see))
        with torch.no_grad():
            for layer in (heads.fnumber, heads.ev100):
                layer.weight.normal_()
        changed = data.aux.copy()
        changed[:, SETTINGS] += 3.0  # three stops longer and brighter
        before, after = outputs(heads, data.aux), outputs(heads, changed)
        assert not np.allclose(before[0], after[0])  # the FNumber head reads them either way
        assert np.allclose(before[2], after[2]) != ev_moves


def test_masks_survive_export_and_older_files_load_with_every_input(tmp_path: Path):
    spec = default_spec("t", 64)
    heads = new_heads(spec, rows(), HeadConfig(ev_exposure_inputs=False, use_crop_input=False))
    export(PhototagNet(load_backbone("lite0"), heads), spec, tmp_path / "m.onnx")
    back = heads_from_onnx(tmp_path / "m.onnx", Heads(1280, 9, bin_sizes(spec)))
    for name, value in heads.state_dict().items():
        assert torch.equal(value, back.state_dict()[name]), name
    assert back.ev_aux_mask[SETTINGS].sum() == 0 and back.aux_mask[7:].sum() == 0
    # a file exported before the EV head had its own mask: it used every input
    proto = onnx.load(str(tmp_path / "m.onnx"))
    for init in proto.graph.initializer:
        if init.name == HEAD_PREFIX + "ev_aux_mask":
            init.name = "something_else"
    onnx.save(proto, str(tmp_path / "old.onnx"))
    old = heads_from_onnx(tmp_path / "old.onnx", Heads(1280, 9, bin_sizes(spec)))
    assert torch.equal(old.ev_aux_mask, torch.ones(9)) and torch.equal(old.aux_mask, back.aux_mask)
