"""A verified write, built in memory before anything on disk changes: the photo with the
estimates in its EXIF and XMP, or its sidecar created or updated, and what undo needs to
put it back. The write stage (writeback.py) decides which photos; this module, what bytes.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .errors import MetadataWriteError
from .inplace import rewrite
from .journal import real_path
from .links import SIDECAR_HINT, write_target
from .plan import (exif_version_update, kept_marks, stale_lens, still_to_write, within_version,
                   without_present)
from .sidecars import read_sidecar, sidecar_tags, sidecar_to_write, sidecars_xmp
from .store import now
from .tagio import modify, read_tags, undo_record, verify
from .xmp import EMPTY_PACKET, SIDECAR_FULL, XMP_TWINS, Estimate, exif_tags, sidecar_candidates, xmp_tags


@dataclass(frozen=True)
class Job:
    """One verified write, ready to be committed: everything undo needs comes with it."""

    photo: str  # display path of the photo (the database key)
    photo_bytes: bytes | None  # the photo's real path in bytes, when it differs from the display form
    target: str  # the file replaced: the photo, or its sidecar
    method: str  # 'exif' or 'sidecar'
    before: bytes | None  # the target's bytes before (None: a new sidecar)
    after: bytes
    tags_before: dict[str, dict[str, Any]]
    tags_after: dict[str, dict[str, Any]]
    undo_kind: str  # 'jpeg_prefix', 'whole', 'tags' or 'sidecar_new' ('jpeg_header' in older records)
    undo_blob: bytes | None
    like: os.stat_result | None  # whose mode, owner and times the new file keeps
    values: tuple[str, ...] = ()  # the estimated values written (Estimate.values), for the summary



def build_exif_job(row: dict[str, Any], photo: str, data: bytes, info: os.stat_result, est: Estimate) -> Job | str:
    """The photo (photo: the file replaced, a link's target) with the estimates in its EXIF
    and XMP, verified in memory. A sidecar of either convention that records a value makes
    it the photo's own: the file must never say otherwise (Lightroom shows the sidecar's)."""
    exif, xmp = read_tags(data)
    remaining = still_to_write(est, exif, xmp, sidecar=False)
    if isinstance(remaining, str):
        return remaining
    est = without_present(remaining, {}, sidecars_xmp(real_path(row)))
    if est.empty:
        return "its sidecar already records its lens values"
    gone_exif, gone_xmp = stale_lens(est, exif, xmp)
    want_exif = {**exif_tags(est), **gone_exif}
    want_xmp = {**xmp_tags(est, now(), kept_marks(exif, xmp, want_exif)), **gone_xmp}
    want_exif.update(exif_version_update(exif, want_exif))
    want_exif = within_version(exif, want_exif)
    new = rewrite(data, want_exif, want_xmp, xmp)
    verify(data, new, want_exif, want_xmp, photo)
    undo_kind, blob = undo_record(data)
    return Job(
        photo=row["path"], photo_bytes=row["path_bytes"], target=photo, method="exif",
        before=data, after=new,
        tags_before={"exif": {k: exif.get(k) for k in want_exif}, "xmp": {k: xmp.get(k) for k in want_xmp}},
        tags_after={"exif": want_exif, "xmp": want_xmp},
        undo_kind=undo_kind, undo_blob=blob, like=info, values=est.values,
    )


def build_sidecar_job(row: dict[str, Any], photo: str, data: bytes, info: os.stat_result, est: Estimate,
                      roots: Sequence[str] = (), form: str = SIDECAR_FULL) -> Job | str:
    """The photo's sidecar with the estimates: the one it has (photo.ARW.xmp or photo.xmp)
    updated, else a new one named by form; the photo itself is not touched.
    A sidecar that is a link stays one: its target is written, if inside roots (links.py)."""
    try:
        exif, xmp = read_tags(data)
    except MetadataWriteError:  # a format pyexiv2 cannot parse: the sidecars still speak for it
        exif, xmp = {}, {}
    chosen = sidecar_to_write(photo, form)
    target = write_target(chosen, roots, "its sidecar", SIDECAR_HINT)
    existing: bytes | None = None
    for candidate in sidecar_candidates(photo):
        content = read_sidecar(candidate)
        if content is not None:
            if candidate == chosen:
                existing = content
            xmp = {**xmp, **sidecar_tags(candidate, content)}
    packet_xmp = read_tags(existing)[1] if existing else {}
    remaining = still_to_write(est, exif, xmp, sidecar=True, target_xmp=packet_xmp)
    if isinstance(remaining, str):
        return remaining
    est = remaining
    want_exif = exif_tags(est)
    gone_xmp = stale_lens(est, {}, packet_xmp)[1]
    want_xmp = {**xmp_tags(est, now(), kept_marks({}, packet_xmp, want_exif)), **gone_xmp}
    # exiv2 reads a sidecar's exif: properties into EXIF and writes that EXIF back over them,
    # so a changed value (a new model's FNumber) must be set there too or it is reverted
    mirrored = {key: value for key, value in want_exif.items() if XMP_TWINS[key].startswith("Xmp.exif.")}
    new = modify(existing or EMPTY_PACKET, mirrored, want_xmp)
    verify(existing or EMPTY_PACKET, new, mirrored, want_xmp, target)
    like = os.stat(target) if existing is not None else None
    return Job(
        photo=row["path"], photo_bytes=row["path_bytes"], target=target, method="sidecar",
        before=existing, after=new,
        tags_before={"exif": {}, "xmp": {k: packet_xmp.get(k) for k in want_xmp}},
        tags_after={"exif": want_exif, "xmp": want_xmp},
        undo_kind="sidecar_new" if existing is None else "whole",
        undo_blob=None if existing is None else zlib.compress(existing),
        like=like, values=est.values,
    )
