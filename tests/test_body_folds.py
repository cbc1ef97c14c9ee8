"""Calibration on bodies the model never learned from: folds that hold whole cameras, on
real photos from ../shared/data."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("torch")  # the trainer's modules import torch

from photo_tagger.trainer.ensemble import fold_list  # noqa: E402
from photo_tagger.trainer.harvest import harvest  # noqa: E402
from photo_tagger.trainer.split import body_folds, folds, session_folds  # noqa: E402
from photo_tagger.trainer.train import Prepared, TrainConfig  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
pytestmark = pytest.mark.skipif(not (SHARED / "photos" / "index.tsv").is_file(), reason="needs ../shared/data")


@pytest.fixture(scope="module")
def photos():
    with open(SHARED / "photos" / "index.tsv", newline="") as handle:
        rows = [r["path"] for r in csv.DictReader(handle, delimiter="\t") if r["use"] == "train"]
    return harvest([str(SHARED / "photos" / p) for p in rows[:160]], workers=2).photos


def test_body_folds_hold_every_camera_whole_and_stay_balanced(photos):
    bodies = Counter(p.body for p in photos)
    assert len(bodies) >= 8, bodies  # real variety: phones, compacts and larger bodies
    parts = body_folds(photos, range(len(photos)), 5, seed=0)
    assert sorted(i for part in parts for i in part) == list(range(len(photos)))
    for body in bodies:
        if body != "unknown body":
            assert sum(any(photos[i].body == body for i in part) for part in parts) == 1, body
    sizes = [len(part) for part in parts]
    assert max(sizes) - min(sizes) <= max(bodies.values())
    # dealt by shot instead, most cameras straddle folds: a fold's predictions would come
    # from heads that learned from the same camera
    by_shot = folds(photos, range(len(photos)), 5, seed=0)
    assert sum(sum(any(photos[i].body == b for i in part) for part in by_shot) > 1 for b in bodies) > 3


def test_an_ensemble_calibrated_by_body_deals_its_members_folds_by_body(photos):
    data = Prepared(photos, train=list(range(len(photos))), val=[], test=[], features=None)  # type: ignore[arg-type]
    by_body = fold_list(data, TrainConfig(members=5, calibration_groups="body"), 5)
    for part in by_body:
        others = {photos[i].body for other in by_body if other is not part for i in other}
        assert not ({photos[i].body for i in part} - {"unknown body"}) & others
    assert fold_list(data, TrainConfig(members=5), 5) != by_body


def test_session_folds_hold_each_outing_whole_and_fall_back_to_shots_when_outings_are_few():
    """One photographer's library (a caver's Nikon D90, 16 days): `train` calibrates on folds
    that hold out whole days, so a burst cannot vouch for its own frames."""
    found = harvest([str(SHARED / "portfolio" / "speleophoto+speleophoto.github.io")], workers=2).photos
    days = Counter((p.body, p.day) for p in found)
    assert len(days) >= 10 and all(day is not None for _, day in days)
    parts = session_folds(found, range(len(found)), 5, seed=0)
    assert sorted(i for part in parts for i in part) == list(range(len(found)))
    for session in days:
        assert sum(any((found[i].body, found[i].day) == session for i in part) for part in parts) == 1
    data = Prepared(found, train=list(range(len(found))), val=[], test=[], features=None)  # type: ignore[arg-type]
    assert fold_list(data, TrainConfig(members=5, calibration_groups="session"), 5) == [p for p in parts if p]
    two_days = [i for i, p in enumerate(found) if p.day in sorted({p.day for p in found})[:2]]
    few = Prepared(found, train=two_days, val=[], test=[], features=None)  # type: ignore[arg-type]
    assert fold_list(few, TrainConfig(members=5, calibration_groups="session"), 5) == \
        fold_list(few, TrainConfig(members=5), 5)
