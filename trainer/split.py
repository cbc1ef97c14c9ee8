"""Split photos into train/validation/test by source photo, balanced across label bins.

Every variant of a photo (and every copy of it: same body, lens values and exposure)
lands in one split, so no split sees another's photo. When adapting a model that learned
from some of these photos (an earlier `phototag train`), only shots it never saw may be
held out for testing: scored on photos it learned from, it would look better than it is,
and the adapted model, which starts from its heads, would too.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Callable, Sequence, Set

import numpy as np

from ..camera import UNKNOWN_BODY
from ..modelspec import AUX_FEATURES
from .harvest import LabeledPhoto

FNUMBER_GROUPS = (2.8, 4.0, 8.0, 16.0)  # <2.8, 2.8-4, 4-8, 8-16, f/16 and smaller
FOCAL_GROUPS = (20.0, 35.0, 70.0, 200.0)  # ultra-wide .. long telephoto


def group_of(value: float, bounds: tuple[float, ...]) -> int:
    return sum(value >= b for b in bounds)


def stratum(photo: LabeledPhoto) -> tuple[int, int]:
    return group_of(photo.fnumber, FNUMBER_GROUPS), group_of(photo.focal35, FOCAL_GROUPS)


def copy_key(photo: LabeledPhoto) -> tuple:
    """Copies and re-exports of one shot share body, lens values and exposure."""
    return (photo.body, round(photo.fnumber, 2), round(photo.focal35, 1),
            None if photo.ev100 is None else round(photo.ev100, 2), photo.aux.tobytes())


def shot_key(photo: LabeledPhoto) -> tuple:
    """What copies of one shot share whether or not their crop factor resolved: a copy
    whose focal label is missing (a partial label) still matches its original here."""
    return (photo.body, round(photo.fnumber, 2), None if photo.ev100 is None else round(photo.ev100, 2))


_CROP_AUX = {AUX_FEATURES.index("log2_crop_factor"), AUX_FEATURES.index("has_crop_factor")}


def shot_id(photo: LabeledPhoto) -> str:
    """A short stable name for the photo's shot, kept in a model's file: what copy_key
    holds (so copies dealt together share it, and distinct shots do not), less what
    depends on the crop factor, so it holds when a body's crop factor is set later."""
    exposure = tuple(round(float(v), 3) for i, v in enumerate(photo.aux) if i not in _CROP_AUX)
    key = (photo.body, round(photo.fnumber, 2), None if math.isnan(photo.focal) else round(photo.focal, 1),
           None if photo.ev100 is None else round(photo.ev100, 2), exposure)
    return hashlib.sha1(repr(key).encode()).hexdigest()[:12]


def split(photos: Sequence[LabeledPhoto], fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
          seed: int = 0, seen: Set[str] = frozenset(),
          keep_test: bool = False) -> tuple[list[int], list[int], list[int]]:
    """Indices for (train, validation, test); within each stratum the splits fill in proportion.

    seen: shot_ids the starting model learned from. The test split is dealt from the other
    shots only, as large a share of all the photos as before where they suffice, so a
    second run on an unchanged library tests on the same photos as the first. Where none
    of the photos is seen, the split is the one without seen.
    keep_test: every shot not in seen is test, whatever its share: a model rebuilt on the
    photos its predecessor was built on tests on the same photos, so the two versions'
    test figures compare and neither ever learned a test photo.
    """
    ids = [shot_id(p) for p in photos] if seen else []
    known = [i for i, name in enumerate(ids) if name in seen]
    if not known:  # a library the model never saw splits as if it had no list
        return tuple(partition(photos, range(len(photos)), fractions, seed))  # type: ignore[return-value]
    fresh = [i for i, name in enumerate(ids) if name not in seen]
    share = 1.0 if keep_test else min(1.0, fractions[2] * len(photos) / max(len(fresh), 1))
    rest, test = (partition(photos, fresh, (1.0 - share, share), seed, fill=False) if share < 1.0
                  else ([], sorted(fresh)))
    learn = fractions[0] + fractions[1]
    train, val = partition(photos, sorted(known + rest), (fractions[0] / learn, fractions[1] / learn), seed)
    return train, val, test


def folds(photos: Sequence[LabeledPhoto], indices: Sequence[int], k: int, seed: int = 0) -> list[list[int]]:
    """k equal, label-balanced folds of these photos, copies of one shot in one fold."""
    return partition(photos, indices, (1.0 / k,) * k, seed)


def body_folds(photos: Sequence[LabeledPhoto], indices: Sequence[int], k: int, seed: int = 0) -> list[list[int]]:
    """k folds that each hold whole bodies, so a fold's predictions come from heads that never
    saw its cameras, as a user's camera will be to the shipped model."""
    return group_folds(photos, indices, k, seed, lambda p: None if p.body == UNKNOWN_BODY else p.body)


def session_folds(photos: Sequence[LabeledPhoto], indices: Sequence[int], k: int, seed: int = 0) -> list[list[int]]:
    """k folds that each hold whole sessions (a body's photos of one day): within one
    photographer's library, shots of one outing look alike, and heads that saw the outing
    would make its other photos look easier than a new outing's."""
    return group_folds(photos, indices, k, seed, lambda p: None if p.day is None else f"{p.body} {p.day}")


def group_folds(photos: Sequence[LabeledPhoto], indices: Sequence[int], k: int, seed: int,
                group: Callable[[LabeledPhoto], str | None]) -> list[list[int]]:
    """k folds that each hold whole groups. The largest groups go first, each to the fold with
    the fewest photos; photos without a group are dealt by shot (folds) onto the smallest."""
    groups: dict[str, list[int]] = defaultdict(list)
    loose = []
    for index in indices:
        name = group(photos[index])
        (loose if name is None else groups[name]).append(index)
    parts: list[list[int]] = [[] for _ in range(k)]
    for name in sorted(groups, key=lambda g: (-len(groups[g]), _unit(seed, g))):
        min(parts, key=len).extend(groups[name])
    for share in sorted(folds(photos, loose, k, seed) if loose else [], key=len, reverse=True):
        min(parts, key=len).extend(share)
    return [sorted(part) for part in parts]


def partition(photos: Sequence[LabeledPhoto], indices: Sequence[int], fractions: Sequence[float],
              seed: int = 0, fill: bool = True) -> list[list[int]]:
    """Deal the photos' shots into parts of these shares, stratum by stratum.

    Systematic sampling: a stratum's shots line up in an order hashed from the seed and each
    shot, the parts lie end to end on a circle turned by an offset hashed from the seed and
    the stratum, and a shot goes to the part its midpoint falls in, so each part of a stratum
    is within a shot of its share. A burst of copies larger than a small part's share of all
    the photos goes to the largest part instead of swamping the small one, and then a small
    part left short (or over) of its share overall takes shots from (or gives them to) the
    largest, in hashed order. No shot's place depends on the order photos were found, and
    adding, dropping or relabelling one photo moves only a shot or so at its stratum's arc
    boundaries and at the overall top-up, so a rebuild after one label fix keeps nearly all
    of its test split. fill: give an empty part a shot.
    """
    groups: dict[tuple, list[int]] = defaultdict(list)
    for index in indices:
        groups[copy_key(photos[index])].append(index)
    strata: dict[tuple[int, int], list[Shot]] = defaultdict(list)
    for key, members in groups.items():
        strata[stratum(photos[members[0]])].append((_unit(seed, shot_id(photos[members[0]]), repr(key)), members))
    shares = np.asarray(fractions, dtype=float) / sum(fractions)
    out: list[list[Shot]] = [[] for _ in fractions]
    for key in sorted(strata):
        _deal(sorted(strata[key]), shares, _unit(seed, repr(key)), len(indices), out)
    _settle(out, shares * len(indices))
    if fill:
        _fill_empty(out)
    return [sorted(i for _, members in part for i in members) for part in out]


Shot = tuple[float, list[int]]  # a shot's hashed place in line, and its copies' indices


def _deal(shots: list[Shot], shares: np.ndarray, turn: float, total: int, out: list[list[Shot]]) -> None:
    """One stratum: each shot to the part its midpoint falls in on the turned circle."""
    size, before, ends, largest = sum(len(m) for _, m in shots), 0, np.cumsum(shares), int(np.argmax(shares))
    for shot in shots:
        middle = ((before + len(shot[1]) / 2) / size + turn) % 1.0
        part = min(int(np.searchsorted(ends, middle, side="right")), len(shares) - 1)
        if len(shot[1]) > shares[part] * total + 1:  # a burst of copies would swamp a small part
            part = largest
        out[part].append(shot)
        before += len(shot[1])


def _settle(out: list[list[Shot]], targets: np.ndarray) -> None:
    """Bring each small part within half a photo of its target where whole shots allow it.

    Strata dealt one by one can leave a part short (bursts, many tiny strata) or over; shots
    move in their hashed order, so one photo more or fewer moves a shot or so here."""
    largest = int(np.argmax(targets))
    for part, target in enumerate(targets):
        if part == largest:
            continue
        count = sum(len(m) for _, m in out[part])
        for shot in sorted(out[part], reverse=True):
            if count - len(shot[1]) >= target - 0.5:
                out[part].remove(shot)
                out[largest].append(shot)
                count -= len(shot[1])
        for shot in sorted(out[largest]):
            if count + len(shot[1]) <= target + 0.5:
                out[largest].remove(shot)
                out[part].append(shot)
                count += len(shot[1])


def _unit(seed: int, *names: str) -> float:
    """A number in [0, 1) fixed by the seed and these names: the same on every machine and run."""
    digest = hashlib.sha1(repr((seed,) + names).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


def _fill_empty(parts: list[list[Shot]]) -> None:
    """A handful of shots can leave a part empty: give it the smallest of the largest part's."""
    for part in parts:
        donor = max(parts, key=lambda p: sum(len(m) for _, m in p))
        if not part and len(donor) > 1:
            part.append(donor.pop(min(range(len(donor)), key=lambda i: (len(donor[i][1]), donor[i][0]))))
