"""Walk folders and yield the photos in them, without reading any file's content."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# RAW formats exiv2 reads the EXIF of and LibRaw the embedded preview of (rawpreview.py).
RAW_FORMATS = frozenset(
    {".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".orf", ".rw2",
     ".raf", ".pef", ".srw", ".3fr", ".iiq", ".rwl", ".erf", ".kdc", ".dcr", ".mrw", ".mos"}
)
HEIF_FORMATS = frozenset({".heic", ".heif", ".hif", ".avif"})  # pillow-heif, Pillow's own AVIF
SUPPORTED = frozenset({".jpg", ".jpeg", ".jpe", ".tif", ".tiff", ".png", ".webp"}) | RAW_FORMATS | HEIF_FORMATS
# Listed and reported, not silently dropped: phototag cannot read these yet (Sigma's X3F:
# neither exiv2 nor current LibRaw reads it).
UNSUPPORTED = frozenset({".x3f"})


def is_raw(path: str | os.PathLike[str]) -> bool:
    """Whether a file is decoded from its embedded preview: told by its name, as LibRaw
    would also take a 16-bit greyscale TIFF (a film scan) for sensor data."""
    return _extension(os.fsdecode(path)) in RAW_FORMATS


@dataclass(frozen=True)
class FoundFile:
    """A file discovery saw: kind is 'photo', 'unsupported' or 'error' (then error says why)."""

    path: str
    kind: str
    size: int = 0
    mtime_ns: int = 0
    error: str | None = None


def display_path(path: str | os.PathLike[str]) -> str:
    """A printable, storable form of a path, even when its bytes are not valid UTF-8."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def discover(roots: Iterable[str | os.PathLike[str]]) -> Iterator[FoundFile]:
    """Yield every photo below the roots: hidden folders skipped, symlinks followed once."""
    seen_dirs: set[tuple[int, int]] = set()
    for root in roots:
        root = os.path.abspath(os.fspath(root))
        try:
            info = os.stat(root)
        except OSError as exc:
            yield FoundFile(root, "error", error=f"it cannot be opened ({exc.strerror})")
            continue
        if stat.S_ISDIR(info.st_mode):
            yield from _walk(root, seen_dirs)
        else:
            found = _classify(root, info)
            if found:
                yield found


def _walk(folder: str, seen: set[tuple[int, int]]) -> Iterator[FoundFile]:
    try:
        ident = os.stat(folder)
    except OSError:
        return
    key = (ident.st_dev, ident.st_ino)
    if key in seen:  # a symlink back to a folder already walked: a loop or a duplicate
        return
    seen.add(key)
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        yield FoundFile(folder, "error", error=f"the folder cannot be read ({exc.strerror})")
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            info = os.stat(entry.path)  # follows symlinks
        except OSError as exc:
            if _extension(entry.name) in SUPPORTED | UNSUPPORTED:
                yield FoundFile(entry.path, "error", error=_stat_error(entry.path, exc))
            continue
        if stat.S_ISDIR(info.st_mode):
            yield from _walk(entry.path, seen)
        else:
            found = _classify(entry.path, info)
            if found:
                yield found


def _classify(path: str, info: os.stat_result) -> FoundFile | None:
    ext = _extension(path)
    if not stat.S_ISREG(info.st_mode):
        return None
    if ext in SUPPORTED:
        return FoundFile(path, "photo", info.st_size, info.st_mtime_ns)
    if ext in UNSUPPORTED:
        return FoundFile(path, "unsupported", info.st_size, info.st_mtime_ns,
                         error=f"{ext[1:].upper()} files are not supported yet")
    return None


def _extension(name: str) -> str:
    return os.path.splitext(name)[1].lower()


def _stat_error(path: str, exc: OSError) -> str:
    if os.path.islink(path):
        return "it is a broken or looping symbolic link"
    return f"it cannot be opened ({exc.strerror})"
