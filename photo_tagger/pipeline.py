"""The scan: discover, analyse in worker processes, predict in batches, store.

Data flows one way and nothing here prints: progress goes to a callback, the outcome
comes back as a ScanSummary.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from .analyse import Analysed, Task, analyse, analyse_in_worker, init_worker
from .preprocess import normalise
from .discover import FoundFile, discover, display_path
from .estimate import Estimate
from .infer import Predictor
from .journal import settle_pending
from .lensbook import LensBook
from .lenses import Lens, LensResolver, Resolution
from .lensprint import PhotoFacts, legacy_setup, photo_setup, relabel, stored_facts
from .metadata import PhotoMetadata
from .library import encode_probs, iso_taken, refine_library
from .pairs import link_shots
from .records import PhotoRecord
from .store import Known, Store, now

SAVE_EVERY = 256


@dataclass(frozen=True)
class ScanOptions:
    """What the user asked of a scan."""

    paths: tuple[str, ...]
    all_photos: bool = False
    force: bool = False
    batch_size: int = 16
    workers: int = 0  # 0: one per CPU core; 1: decode in this process
    lens: str | None = None  # the known lens every photo of this scan was taken with
    # estimate images provenance.py says are no camera photos (AI, screenshots) as photos
    include_non_photos: bool = False


@dataclass
class ScanSummary:
    """Counts for the one summary line; tests assert on these."""

    found: int = 0
    has_exif: int = 0
    checked: int = 0  # of has_exif: estimated too (scan --all), to check the model against their EXIF
    predicted: int = 0
    unchanged: int = 0
    failed: int = 0
    unsupported: int = 0
    not_photo: int = 0  # AI-generated, screenshots and the like: never estimated (provenance.py)
    included_non_photos: int = 0  # of has_exif and predicted: no camera photos, estimated on request
    interrupted: bool = False
    settled: int = 0  # writes and undos a killed run left, settled from the files first
    library_refined: int = 0  # estimates the library's labeled photos sharpened (library.py)
    shots_paired: int = 0  # RAW+JPEG pairs in the database, each one shot with one estimate (pairs.py)
    # photos with lens EXIF that a rule (or --lens) for a lens not marked chipped matched,
    # by lens name: kept as having lens EXIF, and worth a word in case a chip wrote it
    exif_kept: dict[str, int] = field(default_factory=dict)
    # photos from bodies with a built-in lens (phones, compacts) that --lens or a rule named a
    # lens for, by body: the lens is not applied to them (lenses.LensResolver.fixed_body)
    fixed_bodies: dict[str, int] = field(default_factory=dict)
    provider: str = ""
    model_version: str = ""
    run_id: int = 0
    # the folders (or files) scanned, absolute: a write through a symlink must stay inside them (links.py)
    roots: tuple[str, ...] = ()
    errors: list[tuple[str, str]] = field(default_factory=list)
    not_photos: list[tuple[str, str]] = field(default_factory=list)  # (path, why), for one line each

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in self.__dict__.items() if k not in ("errors", "exif_kept", "fixed_bodies", "not_photos")}


Progress = Callable[[int], None]


def is_unchanged(
    known: Known | None, found: FoundFile, model_version: str, all_photos: bool, lens_setup: str | None = None,
    include_non_photos: bool = False,
) -> bool:
    """True when the stored result for this file is still the answer (errors are retried).

    A prediction is redone when the model or the user's lens facts (lens_setup) changed; so
    is a photo with lens EXIF, which a new lens rule may place on a manual lens. A file that
    is no camera photo is redone when --include-non-photos is given or dropped.
    """
    if known is None or (known.size, known.mtime_ns) != (found.size, found.mtime_ns):
        return False
    if known.status == "not_photo":
        return not include_non_photos
    if known.not_photo and not include_non_photos:
        return False  # estimated on request before: marked again, its estimate dropped
    if known.status == "unsupported":  # until a release that reads the format
        return found.kind == "unsupported"
    same_prediction = known.model_version == model_version and known.lens_setup == lens_setup
    if known.status == "predicted":
        return same_prediction
    if known.status == "has_exif":
        return known.lens_setup == lens_setup and (not all_photos or known.model_version == model_version)
    return False


# A model adapted by `phototag train` learned the apertures and focal lengths of the lenses
# that record them, and checked its confidences on photos of those lenses only. A photo with
# no lens recorded was taken with none of them: with each portfolio photographer's lenses held
# out in turn (bench/portfolio_bench.py --split lens), an adapted model put 59 FNumbers and 37
# focal lengths past 0.8 on the held-out lens's photos, 24% and 0% of them right. Its own
# confidence on such a photo is held to at most this (docs/decisions.md).
UNCHECKED_LENS_CAP = 0.5


def unchecked_lens(est: Estimate, adapted: bool, meta: PhotoMetadata | None) -> Estimate:
    """The estimate with its confidences held to UNCHECKED_LENS_CAP where an adapted model
    speaks of a photo whose lens it never saw: none recorded, or a declared manual lens (a
    chip's name included: train learns from no photo a rule places). A declared prime's
    focal length is the lens's own, set after this (with_lens)."""
    recorded = meta is not None and bool(meta.lens_model) and est.lens_index is None
    if not adapted or recorded:
        return est
    return replace(est, fnumber_confidence=min(est.fnumber_confidence, UNCHECKED_LENS_CAP),
                   focal_length_confidence=min(est.focal_length_confidence, UNCHECKED_LENS_CAP))


class Scan:
    """One run of `phototag scan` over a store with a predictor."""

    def __init__(
        self, store: Store, predictor: Predictor, options: ScanOptions, progress: Progress | None = None,
        resolver: LensResolver | None = None,
    ) -> None:
        self.store = store
        self.predictor = predictor
        self.options = options
        self.resolver = resolver or LensBook(store).resolver(options.lens)  # loaded once per scan
        self.legacy_setup = legacy_setup(self.resolver)  # what older versions stored for every photo
        self._relabel: list[tuple[str, str | None]] = []
        self.progress = progress or (lambda n: None)
        self.summary = ScanSummary(provider=predictor.provider, model_version=predictor.spec.model_version,
                                   roots=tuple(os.path.abspath(path) for path in options.paths))
        self._pending: list[PhotoRecord] = []
        self._batch: list[Analysed] = []

    def run(self) -> ScanSummary:
        s = self.summary
        s.settled = settle_pending(self.store)  # before the stored sizes are compared or rows saved
        s.run_id = self.store.start_run("scan", s.model_version, str(self.predictor.model_path), s.provider)
        try:
            for item in self._analysed(self._tasks()):
                self._take(item)
            relabel(self.store, self._relabel)
            self._predict_batch()
            self._flush()
            s.library_refined = refine_library(self.store, np.asarray(self.predictor.spec.fnumber_bins))
            s.shots_paired = link_shots(self.store)  # last: a RAW takes its JPEG's final estimate
        except KeyboardInterrupt:
            s.interrupted = True
            self._flush()  # what was analysed but not predicted is simply redone next time
            raise
        finally:
            self.store.finish_run(s.run_id, s.as_dict())
        return s

    def _tasks(self) -> Iterator[Task]:
        known = {} if self.options.force else self.store.known()
        facts = stored_facts(self.store) if known and self.legacy_setup else {}  # no lens facts: no setups
        for found in discover(self.options.paths):
            self.summary.found += 1
            shown = display_path(found.path)
            if found.kind != "error" and self._unchanged(known.get(shown), found, facts.get(shown)):
                self.summary.unchanged += 1
                self.progress(1)
            elif found.kind == "photo":
                yield Task(found.path, found.size, found.mtime_ns, self.options.all_photos,
                           self.options.include_non_photos)
            else:
                self._record(self._bare_record(found))
                self.progress(1)

    def _unchanged(self, known: Known | None, found: FoundFile, facts: PhotoFacts | None) -> bool:
        """is_unchanged with the fingerprint of the lens facts that bear on this photo; a
        result an older version stored under today's facts as a whole is kept, relabelled."""
        o, version = self.options, self.summary.model_version
        setup = photo_setup(self.resolver, found.path, facts) if facts else None
        if is_unchanged(known, found, version, o.all_photos, setup, o.include_non_photos):
            return True
        legacy = self.legacy_setup
        if known is None or legacy is None or known.lens_setup != legacy or setup == legacy:
            return False
        if not is_unchanged(known, found, version, o.all_photos, legacy, o.include_non_photos):
            return False
        self._relabel.append((display_path(found.path), setup))
        return True

    def _analysed(self, tasks: Iterable[Task]) -> Iterator[Analysed]:
        workers = self.options.workers or os.cpu_count() or 1
        spec, crops = self.predictor.spec, self.resolver.crops
        if workers <= 1:
            yield from (analyse(task, spec, crops, self.resolver) for task in tasks)
            return
        context = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
        with ProcessPoolExecutor(workers, mp_context=context, initializer=init_worker,
                                 initargs=(spec, crops, self.resolver)) as pool:
            yield from _bounded_map(pool, tasks, limit=max(workers * 4, self.options.batch_size * 2))

    def _take(self, item: Analysed) -> None:
        if item.error is not None:
            self._record(self._error_record(item.task, item.error))
        elif item.not_photo and item.pixels is None and not item.task.include_non_photos:
            self._record(self._record_from(item, "not_photo"))
        elif item.pixels is None:
            self._record(self._record_from(item, "has_exif"))
            self._count_kept(item)
            self._count_fixed(self.resolver.resolve(item.task.path, item.meta))
        else:
            self._batch.append(item)
            if len(self._batch) >= self.options.batch_size:
                self._predict_batch()
            return
        self.progress(1)

    def _predict_batch(self) -> None:
        if not self._batch:
            return
        batch, self._batch = self._batch, []
        images = normalise(np.stack([b.pixels for b in batch]), self.predictor.spec)  # type: ignore[misc]
        aux = np.stack([b.aux for b in batch])  # type: ignore[misc]
        crops = [item.crop.value if item.crop else None for item in batch]
        resolved = [self.resolver.resolve(item.task.path, item.meta) for item in batch]
        constraints = [r.constraints(crop) for r, crop in zip(resolved, crops)]
        estimates = self.predictor.predict(images, aux, constraints) if any(constraints) else self.predictor.predict(images, aux)
        adapted = "base_model_version" in self.predictor.spec.info  # made by `phototag train`
        for item, est, crop, lenses in zip(batch, estimates, crops, resolved):
            est = unchecked_lens(est, adapted, item.meta)
            # lens EXIF that the user's lens facts put on a manual lens (a chip's) is no answer
            labeled = item.meta and item.meta.has_lens_exif and not lenses.lenses
            status = "has_exif" if labeled else "predicted"
            self.summary.checked += status == "has_exif"
            if labeled:
                self._count_kept(item)
            self._count_fixed(lenses)
            record = replace(
                self._record_from(item, status),
                fnumber=est.fnumber,
                fnumber_confidence=est.fnumber_confidence,
                model_fnumber=est.fnumber,
                model_fnumber_confidence=est.fnumber_confidence,
                model_fnumber_probs=None if est.fnumber_probs is None else encode_probs(est.fnumber_probs),
                fnumber_source="model",
                focal_length_35mm=est.focal_length_35mm,
                focal_length=round(est.focal_length_35mm / crop, 1) if crop else None,
                focal_length_confidence=est.focal_length_confidence,
                ev100=est.ev100,
                focal_length_source="model",
                model_version=self.summary.model_version,
                provider=self.summary.provider,
            )
            if est.lens_index is not None:
                record = with_lens(record, lenses.lenses[est.lens_index], lenses.source, est.lens_confidence, crop)
            self._record(record)
        self.progress(len(batch))
        self._flush()

    def _count_fixed(self, resolution: Resolution) -> None:
        """A phone's or a compact's photo that --lens or a rule named a lens for: one note."""
        if resolution.fixed_body:
            self.summary.fixed_bodies[resolution.fixed_body] = self.summary.fixed_bodies.get(resolution.fixed_body, 0) + 1

    def _count_kept(self, item: Analysed) -> None:
        assert item.meta is not None
        for lens in self.resolver.passed_by(item.task.path, item.meta):
            self.summary.exif_kept[lens.name] = self.summary.exif_kept.get(lens.name, 0) + 1

    def _record(self, record: PhotoRecord) -> None:
        counter = {"has_exif": "has_exif", "predicted": "predicted", "error": "failed", "unsupported": "unsupported",
                   "not_photo": "not_photo"}
        name = counter[record.status]
        setattr(self.summary, name, getattr(self.summary, name) + 1)
        if record.status == "error":
            self.summary.errors.append((record.path, record.error or ""))
        elif record.status == "not_photo":
            self.summary.not_photos.append((record.path, record.not_photo or ""))
        elif record.not_photo:
            self.summary.included_non_photos += 1
        self._pending.append(record)
        if len(self._pending) >= SAVE_EVERY:
            self._flush()

    def _flush(self) -> None:
        self.store.save(self._pending)
        self._pending = []

    def _base(self, path: str, size: int, mtime_ns: int, status: str, error: str | None = None) -> PhotoRecord:
        shown = display_path(path)
        raw = os.fsencode(path)
        return PhotoRecord(
            path=shown, status=status, size=size, mtime_ns=mtime_ns, error=error,
            path_bytes=raw if raw != shown.encode("utf-8") else None,
            run_id=self.summary.run_id, scanned_at=now(),
        )

    def _bare_record(self, found: FoundFile) -> PhotoRecord:
        status = "unsupported" if found.kind == "unsupported" else "error"
        return self._base(found.path, found.size, found.mtime_ns, status, found.error)

    def _error_record(self, task: Task, error: str) -> PhotoRecord:
        return self._base(task.path, task.size, task.mtime_ns, "error", error)

    def _record_from(self, item: Analysed, status: str) -> PhotoRecord:
        meta, crop = item.meta, item.crop
        assert meta is not None
        return replace(
            self._base(item.task.path, item.task.size, item.task.mtime_ns, status),
            content_hash=item.content_hash,
            camera_make=meta.make, camera_model=meta.model, lens_model=meta.lens_model,
            crop_factor=crop.value if crop else None, crop_factor_source=crop.source if crop else None,
            width=item.width, height=item.height, orientation=meta.orientation,
            exif_fnumber=meta.fnumber, exif_focal_length=meta.focal_length,
            exif_focal_length_35mm=meta.focal_length_35mm, exif_exposure_time=meta.exposure_time,
            exif_iso=meta.iso, exif_exposure_bias=meta.exposure_bias,
            exif_flash_fired=None if meta.flash_fired is None else int(meta.flash_fired),
            exif_exposure_program=meta.exposure_program, taken_at=iso_taken(meta.date_taken),
            # the lens facts that bear on this photo: a change to them redoes has_exif photos too
            lens_setup=photo_setup(self.resolver, item.task.path, PhotoFacts.of(meta)),
            not_photo=item.not_photo,
        )


def with_lens(record: PhotoRecord, lens: Lens, source: str | None, confidence: float | None, crop: float | None) -> PhotoRecord:
    """A prediction made knowing the lens: a prime's focal length is the lens's own."""
    record = replace(record, lens_name=lens.name, lens_source=source, lens_confidence=confidence)
    if not lens.is_prime:
        return record
    return replace(
        record,
        focal_length=lens.focal_min,
        focal_length_35mm=round(lens.focal_min * crop, 1) if crop else None,
        focal_length_confidence=confidence,
        focal_length_source="lens",
    )


def _bounded_map(pool: ProcessPoolExecutor, tasks: Iterable[Task], limit: int) -> Iterator[Analysed]:
    """Like pool.map, in order, but with at most `limit` tasks in flight: memory stays flat."""
    in_flight: deque[Future[Analysed]] = deque()
    try:
        for task in tasks:
            in_flight.append(pool.submit(analyse_in_worker, task))
            if len(in_flight) >= limit:
                yield in_flight.popleft().result()
        while in_flight:
            yield in_flight.popleft().result()
    finally:
        for future in in_flight:
            future.cancel()
