"""Write stored estimates into photos (or XMP sidecars), atomically, verified, recorded.

A write stage reads what the database holds; it never predicts. For each photo it plans
which values may be written, builds the new file in memory (jobs.py), verifies it
(tags read back as meant, image data byte-identical, every other tag unchanged, maker
notes included), and hands it to a writer. `FileWriter` records the write in the database
(state 'pending'), writes a temporary copy in the same folder, fsyncs it, checks it on disk,
`os.replace`s it over the original, fsyncs the folder and marks the write done. A crash at
any point leaves the original or the complete new file, never a mix, and the pending row
is settled by the next run. `NoOpWriter` has the same interface and writes nothing: that
is `--dry-run`.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .atomic import discard, file_hash, locked, remove_stale_temps, sha256, write_temp
from .atomic import replace as replace_file
from .discover import display_path
from .errors import MetadataWriteError, PhototagError
from .faults import crash_point
from .jobs import Job, build_exif_job, build_sidecar_job
from .journal import real_path, settle_pending
from .lensbook import LensBook
from .lenses import Lens
from .links import scan_roots, write_target
from .metadata import read_metadata
from .plan import ALREADY, choose, value_reasons
from .provenance import has_credentials, not_photo_reason
from .store import Store
from .xmp import SIDECAR_FULL, register_namespace, shown, sidecar_candidates

# Written values must be right at least 4 times in 5 on photographers the model never saw:
# at 0.8, 91% of the FNumbers written on bench/portfolio_bench.py's libraries were within one
# stop, where at 0.5 77% were, and the model alone on those bodies reaches it on almost none
# (docs/accuracy.md). Lower it with --min-confidence where `phototag report` shows your own
# library's confidences come true more often.
DEFAULT_MIN_CONFIDENCE = 0.8
# told by size and mtime, or by content hash where the scan stored one (rows scanned before
# phototag stored hashes have none: size and mtime alone)
CHANGED_SINCE_SCAN = "the file changed since it was scanned (scan it again)"
# the formats written in-file; every other (RAW, HEIC/HEIF, AVIF) gets an XMP sidecar, as
# darktable, Lightroom and digiKam do: phototag never rewrites a RAW or HEIC container
IN_FILE_FORMATS = frozenset({".jpg", ".jpeg", ".jpe", ".tif", ".tiff", ".png", ".webp"})


@dataclass(frozen=True)
class WriteOptions:
    """What the user asked of a write stage."""

    paths: tuple[str, ...] = ()  # empty: every predicted photo in the database
    min_confidence: float = DEFAULT_MIN_CONFIDENCE
    sidecar: bool = False  # write an XMP sidecar for every format, never the photo itself
    keep_mtime: bool = True
    sidecar_name: str = SIDECAR_FULL  # a new sidecar's name: 'full' photo.ARW.xmp, 'base' photo.xmp


@dataclass
class WriteSummary:
    """Counts for the summary line; held_back maps each reason to how many photos it kept."""

    dry_run: bool = False
    run_id: int = 0
    written: int = 0
    into_sidecars: int = 0
    already_written: int = 0
    held_back: Counter[str] = field(default_factory=Counter)
    values: Counter[str] = field(default_factory=Counter)  # photos each value went into
    values_held: Counter[tuple[str, str]] = field(default_factory=Counter)  # (value, why not) -> written photos
    failed: int = 0
    settled: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    planned: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run, "written": self.written, "into_sidecars": self.into_sidecars,
            "already_written": self.already_written, "held_back": dict(self.held_back),
            "values": dict(self.values),
            "values_held": {f"{name}: {why}": n for (name, why), n in self.values_held.items()},
            "failed": self.failed, "settled": self.settled,
        }


class Writer(Protocol):
    """Commits verified jobs and keeps the database in step with the files."""

    def commit(self, job: Job, keep_mtime: bool) -> None: ...

    def note(self, path: str, note: str | None) -> None: ...

    def settle(self) -> int: ...


class FileWriter:
    """Writes for real: pending row, temp copy, fsync, verify on disk, replace, fsync, done."""

    def __init__(self, store: Store, run_id: int) -> None:
        self.store = store
        self.run_id = run_id

    def commit(self, job: Job, keep_mtime: bool) -> None:
        entry = {
            "run_id": self.run_id, "path": job.photo, "path_bytes": job.photo_bytes,
            "target": os.fsencode(job.target), "method": job.method,
            "tags_before": json.dumps(job.tags_before), "tags_after": json.dumps(job.tags_after),
            "hash_before": sha256(job.before) if job.before is not None else None,
            "hash_after": sha256(job.after),
            "mtime_before": job.like.st_mtime_ns if job.like and job.before is not None else None,
            "size_before": len(job.before) if job.before is not None else None,
            "undo_kind": job.undo_kind, "undo_blob": job.undo_blob,
        }
        mtime = job.like.st_mtime_ns if (job.like and keep_mtime and job.method == "exif") else None
        temp = write_temp(job.target, job.after, job.like, mtime)
        crash_point("write:temp")
        try:
            write_id = self.store.begin_write(entry)
        except BaseException:
            discard(temp)
            raise
        crash_point("write:pending")
        try:
            _unchanged_since_read(job.target, entry["hash_before"])
            replace_file(temp, job.target)
        except BaseException:
            discard(temp)
            self.store.drop_write(write_id)
            raise
        crash_point("write:renamed")
        info = os.stat(job.target)
        if job.method == "exif":
            self.store.finish_write(write_id, info.st_size, info.st_mtime_ns)
        else:
            self.store.finish_write(write_id)
        crash_point("write:done")

    def note(self, path: str, note: str | None) -> None:
        self.store.note_write(path, note)

    def settle(self) -> int:
        """Finish what a killed run left: pending writes that reached the file become done,
        the others are forgotten. Returns how many were settled."""
        return settle_pending(self.store)


class NoOpWriter:
    """--dry-run: the same stage, every check made, nothing written to files or database."""

    def commit(self, job: Job, keep_mtime: bool) -> None:
        return None

    def note(self, path: str, note: str | None) -> None:
        return None

    def settle(self) -> int:
        return 0


class WriteStage:
    """Apply stored estimates to the photos selected by the options."""

    def __init__(self, store: Store, writer: Writer, options: WriteOptions, dry_run: bool = False) -> None:
        self.store = store
        self.writer = writer
        self.options = options
        self.summary = WriteSummary(dry_run=dry_run)
        self.lenses: dict[str, Lens] = {}
        self._roots: dict[int, tuple[str, ...]] | None = None  # each scan run's folders, read once

    def run(self) -> WriteSummary:
        register_namespace()
        self.lenses = {lens.name: lens for lens in LensBook(self.store).lenses()}
        self.summary.settled = self.writer.settle()
        names = [(path, raw) for path, raw in self.store.predicted_paths() if selected(path, self.options.paths)]
        remove_stale_temps(self._temp_folders(names))
        for path, _ in names:
            row = self.store.photo(path)
            if row is None or row["status"] != "predicted":  # changed by a scan running beside us
                continue
            if row["written"]:
                self.summary.already_written += 1
                continue
            self._one(row)
        return self.summary

    def _temp_folders(self, names: Sequence[tuple[str, bytes | None]]) -> set[str]:
        """Where a killed write may have left its temporary copy: each photo's folder, and
        the folder of the file its link (or its sidecar's link) names, when a write could
        go there: inside the scanned folders (links.py)."""
        folders: set[str] = set()
        for path, raw in names:
            photo = real_path({"path": path, "path_bytes": raw})
            folders.add(os.path.dirname(photo))
            for name in (photo, *sidecar_candidates(photo)):
                if os.path.islink(name):
                    row = self.store.photo(path) or {}
                    try:
                        folders.add(os.path.dirname(write_target(name, self._scan_roots(row))))
                    except MetadataWriteError:  # outside them: phototag never writes there
                        pass
        return folders

    def _one(self, row: dict[str, Any]) -> None:
        path = row["path"]
        try:
            outcome = self._plan_and_commit(row)
        except MetadataWriteError as exc:
            self.summary.failed += 1
            self.summary.errors.append((path, str(exc)))
            self.writer.note(path, f"failed: {exc}")
            return
        if outcome is ALREADY:
            self.summary.already_written += 1
            return
        if isinstance(outcome, str):
            self.summary.held_back[outcome] += 1
            self.writer.note(path, outcome)
            return
        self.summary.written += 1
        self._count_values(row, outcome)
        self.summary.into_sidecars += outcome.method == "sidecar"
        self.summary.planned.append((path, shown(outcome.tags_after["exif"])))

    def _count_values(self, row: dict[str, Any], job: Job) -> None:
        """Which values went into a written photo, and why the others did not: a photo whose
        FNumber went in may still lack its focal length, and the summary should say so."""
        self.summary.values.update(job.values)
        for name, why in value_reasons(row, self.options.min_confidence).items():
            if not why and name not in job.values:
                why = "the file records its own"
            if why and why != "no estimate":
                self.summary.values_held[name, why] += 1

    def _plan_and_commit(self, row: dict[str, Any]) -> Job | str:
        est, reason = choose(row, self.options.min_confidence, self.lenses)
        if est is None:
            return reason
        photo = real_path(row)
        sidecar = self.options.sidecar or os.path.splitext(photo)[1].lower() not in IN_FILE_FORMATS
        try:
            with locked(photo):
                row = self.store.photo(row["path"]) or row  # another run may have written it meanwhile
                if row["written"]:
                    return ALREADY
                info = os.stat(photo)
                if (info.st_size, info.st_mtime_ns) != (row["size"], row["mtime_ns"]):
                    return CHANGED_SINCE_SCAN
                if not sidecar and not _writable(photo, info):
                    raise MetadataWriteError("the file is read-only; it was left untouched (use --sidecar to write beside it)")
                with open(photo, "rb") as handle:
                    data = handle.read()
                if row.get("content_hash") and sha256(data) != row["content_hash"]:  # same size and mtime
                    return CHANGED_SINCE_SCAN
                why_not = _not_a_photo(row, data, photo)
                if why_not:
                    return why_not
                sidecar = sidecar or has_credentials(data, photo)  # an edit would break their signature
                roots = self._scan_roots(row)
                if sidecar:
                    job = build_sidecar_job(row, photo, data, info, est, roots, self.options.sidecar_name)
                else:
                    job = build_exif_job(row, write_target(photo, roots), data, info, est)
                if isinstance(job, str):
                    return job
                self.writer.commit(job, self.options.keep_mtime)
                return job
        except OSError as exc:
            raise MetadataWriteError(f"it could not be written ({_os_reason(exc)}); the original is untouched") from exc

    def _scan_roots(self, row: dict[str, Any]) -> tuple[str, ...]:
        """The folders the scan that stored this photo was given (none: scanned before they
        were recorded); a write through a link must land inside them (links.py)."""
        if self._roots is None:
            self._roots = scan_roots(self.store.runs())
        return self._roots.get(row.get("run_id") or 0, ())


def _not_a_photo(row: dict[str, Any], data: bytes, photo: str) -> str | None:
    """Why the file is no camera photo, checked again on the bytes about to be written: a
    row scanned before phototag checked (or a file since marked AI) must not get a lens.
    A photo the user took in with --include-non-photos keeps its stored reason and passes."""
    if row.get("not_photo"):
        return None
    try:
        why = not_photo_reason(read_metadata(data), data, photo)
    except PhototagError:
        return None  # unreadable metadata: the write's own reading says so
    return f"it is not a camera photo: {why} (scan it again to record that)" if why else None


def _writable(path: str, info: os.stat_result) -> bool:
    """A read-only file says 'do not modify', even to root (who may write anything)."""
    return bool(info.st_mode & 0o222) and (os.geteuid() == 0 or os.access(path, os.W_OK))


def _unchanged_since_read(target: str, hash_before: str | None) -> None:
    """The last look before the rename: an edit by another program since phototag read the
    file (same size and mtime or not) must never be overwritten."""
    if file_hash(target) != hash_before:
        raise MetadataWriteError("it changed while phototag was writing; nothing was written, scan it again")


# --- small helpers ---------------------------------------------------------------------


def selected(shown: str, paths: Sequence[str]) -> bool:
    """Whether a stored (display) path lies at or under one of the given paths."""
    if not paths:
        return True
    for given in paths:
        root = display_path(os.path.abspath(given)).rstrip("/")
        if shown == root or shown.startswith(root + "/"):
            return True
    return False


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__
