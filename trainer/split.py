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
import random
from collections import defaultdict
from collections.abc import Sequence, Set

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
          seed: int = 0, seen: Set[str] = frozenset()) -> tuple[list[int], list[int], list[int]]:
    """Indices for (train, validation, test); within each stratum the splits fill in proportion.

    seen: shot_ids the starting model learned from. The test split is dealt from the other
    shots only, as large a share of all the photos as before where they suffice, so a
    second run on an unchanged library tests on the same photos as the first. Where none
    of the photos is seen, the split is the one without seen.
    """
    ids = [shot_id(p) for p in photos] if seen else []
    known = [i for i, name in enumerate(ids) if name in seen]
    if not known:  # a library the model never saw splits as if it had no list
        return tuple(partition(photos, range(len(photos)), fractions, seed))  # type: ignore[return-value]
    fresh = [i for i, name in enumerate(ids) if name not in seen]
    share = min(1.0, fractions[2] * len(photos) / max(len(fresh), 1))
    rest, test = partition(photos, fresh, (1.0 - share, share), seed) if share < 1.0 else ([], sorted(fresh))
    learn = fractions[0] + fractions[1]
    train, val = partition(photos, sorted(known + rest), (fractions[0] / learn, fractions[1] / learn), seed)
    return train, val, test


def folds(photos: Sequence[LabeledPhoto], indices: Sequence[int], k: int, seed: int = 0) -> list[list[int]]:
    """k equal, label-balanced folds of these photos, copies of one shot in one fold."""
    return partition(photos, indices, (1.0 / k,) * k, seed)


def partition(photos: Sequence[LabeledPhoto], indices: Sequence[int], fractions: Sequence[float],
              seed: int = 0) -> list[list[int]]:
    """Deal the photos' shots into parts of these shares, stratum by stratum."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    for index in indices:
        groups[copy_key(photos[index])].append(index)
    strata: dict[tuple[int, int], list[list[int]]] = defaultdict(list)
    for members in groups.values():
        strata[stratum(photos[members[0]])].append(members)
    rng = random.Random(seed)
    n = len(fractions)
    out: list[list[list[int]]] = [[] for _ in range(n)]
    totals = [0] * n
    for key in sorted(strata):
        members_list = strata[key]
        rng.shuffle(members_list)
        taken = [0] * n
        for members in members_list:
            seen = sum(taken) + 1
            # the part furthest below its share, in this stratum and (to break ties) overall
            need = [(fractions[s] * seen - taken[s], fractions[s] * (sum(totals) + 1) - totals[s])
                    for s in range(n)]
            chosen = max(range(n), key=lambda s: need[s])
            taken[chosen] += len(members)
            totals[chosen] += len(members)
            out[chosen].append(members)
    _fill_empty(out)
    return [sorted(i for members in part for i in members) for part in out]


def _fill_empty(parts: list[list[list[int]]]) -> None:
    """Few strata each send their first shot to train; give an empty split a shot from the largest."""
    for part in parts:
        donor = max(parts, key=len)
        if not part and len(donor) > 1:
            part.append(donor.pop())
