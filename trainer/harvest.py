"""Find the labeled photos in folders: the same discovery, metadata and crop-factor code as scan.

A photo is labeled when its EXIF has FNumber and FocalLength and its body's crop factor
can be resolved. A photo whose crop factor cannot be resolved is counted and its focal
label never guessed; its FNumber and scene EV100 do not depend on the sensor, so it is kept
apart as a partial label that trains those two heads only.

Only an electronic lens measures what it records. A photo the user's lens book says was
taken with one of their manual lenses (a rule for a lens marked chipped matches it, or its
LensModel names the lens; LensResolver.places_manual, as scan decides) is left out even
when it carries lens EXIF: an adapter's focus-confirm chip reports the
focal length it was programmed with and whatever aperture the camera dial shows, and a
body's manual-lens list records the registered aperture, not the one the ring was set to.
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing import get_context

import numpy as np

from ..analyse import Analysed, Task, analyse, analyse_in_worker, init_worker
from ..camera import body_name
from ..discover import discover
from ..lenses import LensResolver
from ..modelspec import default_spec
from ..preprocess import aux_vector

FNUMBER_RANGE = (0.7, 64.0)
FOCAL35_RANGE = (5.0, 2000.0)


@dataclass(frozen=True)
class LabeledPhoto:
    """One photo with its labels in model units (FNumber, 35 mm-equivalent focal length, EV100).

    focal35 and crop are NaN for a partial label (the body's crop factor is unknown).
    """

    path: str
    body: str
    fnumber: float
    focal35: float
    crop: float
    ev100: float | None
    aux: np.ndarray
    focal: float = math.nan  # FocalLength as recorded (mm): known whether or not the crop factor is
    day: str | None = None  # the day it was taken (DateTimeOriginal): one session, for calibration folds

    @property
    def partial(self) -> bool:
        return math.isnan(self.focal35)


@dataclass
class Harvest:
    """What a walk found: the labeled photos and counts of everything left out, and why."""

    photos: list[LabeledPhoto] = field(default_factory=list)
    partial: list[LabeledPhoto] = field(default_factory=list)  # crop unknown: FNumber and EV100 only
    unlabeled: int = 0
    unresolved_crop: int = 0  # of which len(partial) were kept as partial labels
    out_of_range: int = 0
    manual_lens: int = 0  # lens EXIF present, but the lens book says a manual lens took the photo
    not_photo: int = 0  # AI-generated, screenshots (provenance.py): whatever EXIF they carry teaches nothing
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, why): skipped, named

    @property
    def errors(self) -> int:
        return len(self.unreadable)

    def drop(self, failures: Sequence[tuple[str, str]]) -> None:
        """Leave out photos found unreadable later (their pixels would not decode), named."""
        gone = {path for path, _ in failures}
        self.photos = [p for p in self.photos if p.path not in gone]
        self.partial = [p for p in self.partial if p.path not in gone]
        self.unreadable.extend(failures)

    def per_body(self) -> dict[str, int]:
        return dict(Counter(p.body for p in self.photos).most_common())


def ev100(fnumber: float, exposure_time: float | None, iso: float | None) -> float | None:
    """Scene light value: EV100 = log2(N^2 / t) - log2(ISO / 100)."""
    if not exposure_time or not iso:
        return None
    return math.log2(fnumber**2 / exposure_time) - math.log2(iso / 100.0)


def label(result: Analysed, harvest: Harvest, lenses: LensResolver | None = None) -> LabeledPhoto | None:
    """Turn one analysed file into a labeled photo, or count why it is not one."""
    meta = result.meta
    if result.error or meta is None:
        harvest.unreadable.append((result.task.path, result.error or "its metadata could not be read"))
        return None
    if result.not_photo:
        harvest.not_photo += 1
        return None
    if not meta.has_lens_exif:
        harvest.unlabeled += 1
        return None
    if lenses is not None and lenses.places_manual(result.task.path, meta):
        harvest.manual_lens += 1
        return None
    assert meta.fnumber and meta.focal_length
    crop = result.crop.value if result.crop is not None else math.nan
    focal35 = meta.focal_length * crop
    if result.crop is None:
        harvest.unresolved_crop += 1
    if not (FNUMBER_RANGE[0] <= meta.fnumber <= FNUMBER_RANGE[1]
            and (result.crop is None or FOCAL35_RANGE[0] <= focal35 <= FOCAL35_RANGE[1])):
        harvest.out_of_range += 1
        return None
    return LabeledPhoto(
        path=result.task.path,
        body=body_name(meta.make, meta.model),
        fnumber=float(meta.fnumber),
        focal35=float(focal35),
        crop=float(crop),
        ev100=ev100(meta.fnumber, meta.exposure_time, meta.iso),
        aux=aux_vector(meta, result.crop),
        focal=float(meta.focal_length),
        day=(meta.date_taken or "")[:10] or None,
    )


def harvest(
    paths: Iterable[str | os.PathLike[str]],
    workers: int | None = None,
    crops: Mapping[str, float] | None = None,
    lenses: LensResolver | None = None,
) -> Harvest:
    """Walk the paths and read every photo's metadata in worker processes (pyexiv2 is not thread-safe).

    crops: the user's crop factors by body model, as scan uses them. lenses: the user's
    manual lenses and the rules that place them (their photos teach nothing).
    """
    tasks = [Task(f.path, f.size, f.mtime_ns, predict_if_labeled=False)
             for f in discover(paths) if f.kind == "photo"]
    found = Harvest()
    workers = max(1, min(workers or os.cpu_count() or 1, len(tasks) or 1))
    spec = default_spec("harvest")
    if workers <= 1:
        results: Iterable[Analysed] = (analyse(task, spec, crops) for task in tasks)
        return _collect(results, found, lenses)
    context = get_context("fork" if hasattr(os, "fork") else "spawn")
    with context.Pool(workers, init_worker, (spec, crops)) as pool:
        return _collect(pool.imap(analyse_in_worker, tasks, chunksize=8), found, lenses)


def _collect(results: Iterable[Analysed], found: Harvest, lenses: LensResolver | None) -> Harvest:
    for result in results:
        photo = label(result, found, lenses)
        if photo is not None:
            (found.partial if photo.partial else found.photos).append(photo)
    return found

