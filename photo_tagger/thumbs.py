"""Small JPEG thumbnails of scanned photos, made once and kept in the state folder.

A report must not decode a whole library each time it is built: each thumbnail is keyed by
the photo's path, size and modification time, so a photo is decoded again only after it
changed. JPEG draft mode and RAW previews keep the first build to milliseconds a photo.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

from .discover import is_raw
from .errors import PhototagError
from .preprocess import decode

THUMB_SIDE = 160  # px on the long side: enough to recognise a photo beside its numbers
QUALITY = 70


class ThumbCache:
    """Thumbnails under folder, one file per photo version."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def get(self, path: str, size: int, mtime_ns: int) -> bytes | None:
        """The photo's thumbnail as JPEG bytes, made now if missing; None if it cannot be read."""
        key = hashlib.sha256(f"{path}\0{size}\0{mtime_ns}".encode("utf-8", "surrogateescape")).hexdigest()
        cached = self.folder / key[:2] / f"{key}.jpg"
        if cached.is_file():
            return cached.read_bytes()
        made = make_thumb(path)
        if made is None:
            return None
        cached.parent.mkdir(parents=True, exist_ok=True)
        temp = cached.with_suffix(f".{os.getpid()}.tmp")
        temp.write_bytes(made)
        os.replace(temp, cached)
        return made


def make_thumb(path: str) -> bytes | None:
    """An upright JPEG thumbnail of the photo at path (its RAW preview for a RAW)."""
    try:
        with open(path, "rb") as handle:
            image = decode(handle.read(), THUMB_SIDE, raw=is_raw(path))
    except (OSError, PhototagError):
        return None
    image.thumbnail((THUMB_SIDE, THUMB_SIDE))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=QUALITY, optimize=True)
    return out.getvalue()
