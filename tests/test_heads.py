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
from photo_tagger.trainer.heads import (APERTURE_COPY_RANGE, HeadConfig, Heads, anchor_strength, aperture_copies,  # noqa: E402
                                        bin_sizes, losses, new_heads, targets, train_heads)

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


def learnable(n: int, seed: int = 0) -> FeatureSet:
    """Rows whose FNumber and focal length a linear head can read off the first features."""
    rng = np.random.default_rng(seed)
    fnumber = rng.choice([1.8, 2.8, 5.6, 11.0], n)
    focal = rng.choice([24.0, 50.0, 135.0], n)
    features = rng.normal(size=(n, 1280)).astype(np.float32)
    features[:, 0] = np.log2(fnumber) + rng.normal(0, 0.1, n)
    features[:, 1] = np.log2(focal) + rng.normal(0, 0.1, n)
    return FeatureSet(features, np.zeros((n, 9), np.float32), fnumber, focal, np.full(n, np.nan),
                      np.arange(n), np.ones(n, bool))


def test_a_large_set_trains_in_batches_within_the_same_step_budget():
    spec, config = default_spec("t"), HeadConfig(epochs=200, patience=200, lr=1e-2)
    train, val = learnable(400), learnable(100, seed=1)
    untrained = new_heads(spec, train, config)
    whole, report = train_heads(spec, train, val, config, init=untrained)
    assert report["epochs_run"] == 200
    # a batch as large as the set is the full-batch fit itself, step for step
    same, _ = train_heads(spec, train, val, config, init=untrained, batch_rows=400)
    assert all(torch.equal(a, b) for a, b in zip(whole.state_dict().values(), same.state_dict().values()))
    # four steps a pass: a quarter of the passes, and it learns as well
    batched, report = train_heads(spec, train, val, config, init=untrained, batch_rows=100)
    assert report["epochs_run"] == 50
    with torch.no_grad():
        data = (torch.from_numpy(val.features), torch.from_numpy(val.aux), targets(spec, val, config))
        first, full, minibatch = (float(losses(h.eval(), data)[0]) for h in (untrained, whole, batched))
    assert minibatch < 0.8 * first and minibatch < 1.1 * full


def test_aperture_copies_keep_the_exposure_and_teach_only_the_ev_head():
    """A copy is the same photo as if shot at another aperture with the exposure time that
    lets in the same light: N^2 / t unchanged, so the scene's EV100 label is too."""
    data = rows(4)
    data.aux[:, AUX_FEATURES.index("has_exposure_time")] = 1.0
    data.ev100[1] = np.nan  # no exposure EXIF: nothing to copy
    more = aperture_copies(data, 3, seed=0)
    assert len(more.fnumber) == 4 + 3 * 3
    added = slice(4, None)
    assert np.isnan(more.fnumber[added]).all() and np.isnan(more.focal35[added]).all()
    assert (more.ev100[added] == 10.0).all() and not more.identity[added].any()
    source = more.photo[added]
    t = AUX_FEATURES.index("log2_exposure_time")
    implied = np.sqrt(2.0 ** (more.aux[added, t] - data.aux[source, t])) * 4.0  # N' = N sqrt(t'/t)
    assert (implied >= APERTURE_COPY_RANGE[0] - 1e-3).all() and (implied <= APERTURE_COPY_RANGE[1] + 1e-3).all()
    assert len(np.unique(np.round(implied, 3))) == 9  # redrawn, not one aperture for all
    assert (more.features[added] == data.features[source]).all()
    spec = default_spec("t")
    soft = targets(spec, more, HeadConfig())
    assert (soft[0][added].sum(1) == 0).all() and (soft[1][added].sum(1) == 0).all()
    assert np.allclose(soft[2][added].sum(1), 1.0)


def test_adapting_on_few_photos_shrinks_toward_the_starting_heads():
    """With anchor_photos, the penalty pulls an adaptation toward the heads it starts from
    (not toward zero), the harder the fewer photos teach it."""
    spec = default_spec("t")
    start = new_heads(spec, rows(40, seed=1), HeadConfig())
    with torch.no_grad():
        for name in ("fnumber", "focal35", "ev100"):
            getattr(start, name).weight.normal_(0.0, 0.05)
    few, val = rows(4, seed=2), rows(4, seed=3)

    def moved(config: HeadConfig) -> float:
        heads, _ = train_heads(spec, few, val, config, init=start)
        return sum(float(((getattr(heads, n).weight - getattr(start, n).weight) ** 2).sum().detach())
                   for n in ("fnumber", "focal35", "ev100"))

    plain = HeadConfig(epochs=60, patience=60, dropout=0.0)
    from dataclasses import replace
    assert moved(replace(plain, anchor_photos=40)) < moved(plain)
    # fifteen photos pull four times as hard as sixty, and past sixty the plain l2 is left
    assert anchor_strength(rows(15), replace(plain, anchor_photos=60)) == pytest.approx(4 * plain.l2)
    assert anchor_strength(rows(90), replace(plain, anchor_photos=60)) == pytest.approx(plain.l2)
