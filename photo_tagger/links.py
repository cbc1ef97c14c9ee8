"""Where a write through a symbolic link may land: the link's target, inside the scanned folders.

Replacing a link with a regular file would break what the user built (an album of links
into an archive), so phototag writes the file a link names, in that file's own folder, and
the link stays a link. But a link can point anywhere (another user's photos, a system file),
so the target must lie under a folder the scan was given: the scan records its folders in
its run's summary ("roots"). A photo scanned before phototag recorded them is held to the
folder holding the link (and the folders below it).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from typing import Any

from .errors import MetadataWriteError


PHOTO_HINT = "use --sidecar to write beside the link, or scan the folder holding the file"
SIDECAR_HINT = "copy the sidecar into the scanned folders, or scan the folder holding it"


def write_target(path: str, roots: Sequence[str], what: str = "it", hint: str = PHOTO_HINT) -> str:
    """The file to replace when writing path: itself, or the file a link names when that lies
    under one of roots. Raises when a link leads outside them (or nowhere)."""
    if not os.path.islink(path):
        return path
    target = os.path.realpath(path)
    folders = [_folder(root) for root in roots] or [os.path.realpath(os.path.dirname(path))]
    if not os.path.isfile(target) or not any(_under(target, folder) for folder in folders):
        raise MetadataWriteError(
            f"{what} is a link to a file outside the scanned folders; nothing was written ({hint})")
    return target


def _folder(root: str) -> str:
    """A scan root as a real folder: a photo given by name stands for its folder."""
    real = os.path.realpath(root)
    return real if os.path.isdir(real) else os.path.dirname(real)


def _under(path: str, folder: str) -> bool:
    return os.path.commonpath([path, folder]) == folder


def scan_roots(runs: Iterable[dict[str, Any]]) -> dict[int, tuple[str, ...]]:
    """Each scan run's folders, from its stored summary (none for runs that predate them)."""
    found: dict[int, tuple[str, ...]] = {}
    for run in runs:
        try:
            roots = json.loads(run.get("summary") or "{}").get("roots") or ()
        except (ValueError, AttributeError):
            roots = ()
        found[run["id"]] = tuple(str(root) for root in roots)
    return found
