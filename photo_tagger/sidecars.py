"""Reading the XMP sidecars other tools keep beside a photo, before phototag writes into it.

Two conventions share the world: 'photo.jpg.xmp' (darktable, digiKam, and phototag's own
--sidecar) and 'photo.xmp' (Lightroom, Capture One). A value either records is the photo's
own, so an in-file write must neither contradict it nor guess past a sidecar it cannot read.
"""

from __future__ import annotations

import os
from typing import Any

from .errors import MetadataWriteError
from .tagio import read_tags
from .xmp import SIDECAR_BASE, SIDECAR_FULL, sidecar_candidates, sidecar_path


def sidecars_xmp(photo: str) -> dict[str, Any]:
    """The XMP of the photo's sidecars of both conventions, merged ({} where there are none)."""
    found: dict[str, Any] = {}
    for candidate in sidecar_candidates(photo):
        content = read_sidecar(candidate)
        if content is not None:
            found = {**found, **sidecar_tags(candidate, content)}
    return found


def sidecar_to_write(photo: str, form: str = SIDECAR_FULL) -> str:
    """The sidecar a write goes into: one that exists, of the form asked first, else a new
    one of that form. Lightroom reads only photo.xmp and darktable only photo.ARW.xmp, so an
    existing one is updated rather than a second made beside it, which would disagree."""
    other = SIDECAR_BASE if form == SIDECAR_FULL else SIDECAR_FULL
    for candidate in (sidecar_path(photo, form), sidecar_path(photo, other)):
        if os.path.isfile(candidate):
            return candidate
    return sidecar_path(photo, form)


def read_sidecar(path: str) -> bytes | None:
    """A sidecar's bytes, through a link too; None where there is no such file."""
    if not os.path.isfile(path):
        return None
    with open(path, "rb") as handle:
        return handle.read()


def sidecar_tags(path: str, content: bytes) -> dict[str, Any]:
    """A sidecar's XMP, or a one-line error naming it: never a guess past an unreadable one."""
    try:
        return read_tags(content)[1]
    except MetadataWriteError as exc:
        why = str(exc.__cause__ or exc).strip().splitlines() or ["unknown error"]
        raise MetadataWriteError(f"its sidecar {os.path.basename(path)} cannot be read ({why[0]}); nothing was written "
                                 "(fix or move the sidecar)") from exc
