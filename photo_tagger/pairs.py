"""RAW+JPEG pairs: a camera set to RAW+JPEG records one shot in two files, and both must
say the same about its lens.

Two files are one shot when they lie in one folder under the same name (the stem, case
aside: IMG_5952.CR2 and IMG_5952.JPG), one is a RAW and the other a JPEG or HEIC, both were
read as camera photos, and they were taken at the same moment by the same body. Neither
alone is enough: cameras reuse names after 9999 frames, and two bodies can share a folder.

The JPEG is the shot's picture (the camera's full rendering, where the RAW offers only a
preview), so its estimate is the shot's: after each scan's model and library steps the
RAW's row gets the JPEG's values and confidences, whichever of the two was scanned last.
The RAW's row keeps the link (shot_of: the JPEG's path).

A value either file records in its own EXIF is the shot's: a file with both lens values
makes the other a photo with lens EXIF too, and a single recorded value (an FNumber without
a focal length) is estimated for neither, so phototag never writes into one file what the
other's EXIF contradicts. A file that borrows its partner's lens EXIF is looked at again by
the next scan (its lens_setup says BORROWED), as the partner may have changed meanwhile.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .discover import is_raw
from .journal import real_path
from .store import Store

# the camera's own renderings a RAW is paired with
PICTURES = frozenset({".jpg", ".jpeg", ".jpe", ".heic", ".heif", ".hif"})
PHOTO_STATUSES = ("predicted", "has_exif")
FNUMBER_COLUMNS = ("fnumber", "fnumber_confidence", "fnumber_source", "model_fnumber",
                   "model_fnumber_confidence", "model_fnumber_probs")
FOCAL_COLUMNS = ("focal_length", "focal_length_35mm", "focal_length_confidence", "focal_length_source")
# what the RAW takes from its JPEG: every estimated value, the evidence behind it, whose it is
ESTIMATE_COLUMNS = (*FNUMBER_COLUMNS, *FOCAL_COLUMNS, "ev100", "lens_name", "lens_source", "lens_confidence",
                    "model_version", "provider")
# the lens_setup of a row whose lens EXIF is its partner's: no scan's lens facts match it,
# so the next scan reads the file again (the partner may have changed)
BORROWED = "lens EXIF of its RAW+JPEG partner"


@dataclass(frozen=True)
class Shot:
    """One shot recorded twice: the RAW and its JPEG (or HEIC), by stored path."""

    raw: str
    picture: str


def shot_key(path: str) -> tuple[str, str]:
    """The folder and the name without extension, case aside: what a pair shares."""
    folder, name = os.path.split(path)
    return folder, os.path.splitext(name)[0].casefold()


def find_shots(rows: Iterable[Mapping[str, Any]]) -> list[Shot]:
    """The pairs among the rows (path, path_bytes, status, taken_at, camera_make,
    camera_model, not_photo). A name shared by more than one RAW or picture pairs nothing:
    which JPEG belongs to which RAW would be a guess."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[shot_key(row["path"])].append(row)
    shots = []
    for group in groups.values():
        raws = [r for r in group if is_raw(r["path"])]
        pictures = [r for r in group if os.path.splitext(r["path"])[1].lower() in PICTURES]
        if len(raws) == 1 and len(pictures) == 1 and same_shot(raws[0], pictures[0]):
            shots.append(Shot(raws[0]["path"], pictures[0]["path"]))
    return shots


def same_shot(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Both camera photos, taken at one moment by one body, both still on disk."""
    for row in (a, b):
        if row["status"] not in PHOTO_STATUSES or row["not_photo"] or not row["taken_at"]:
            return False
    body = lambda r: ((r["camera_make"] or "").strip().casefold(), (r["camera_model"] or "").strip().casefold())  # noqa: E731
    return (a["taken_at"] == b["taken_at"] and body(a) == body(b)
            and os.path.isfile(real_path(dict(a))) and os.path.isfile(real_path(dict(b))))


def _recorded(row: Mapping[str, Any]) -> tuple[bool, bool]:
    """Whether the file's own EXIF records its FNumber, its focal length (0: unknown)."""
    focal = (row["exif_focal_length"] or 0) > 0 or (row["exif_focal_length_35mm"] or 0) > 0
    return (row["exif_fnumber"] or 0) > 0, focal


def shot_values(raw: Mapping[str, Any], picture: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """What each row of one shot should hold (raw's, picture's): the picture's estimate on
    both, less any value either file's EXIF records."""
    recorded = [_recorded(raw), _recorded(picture)]
    if any(f and l for f, l in recorded):  # the shot has lens EXIF: neither is estimated
        shared = {"status": "has_exif", "lens_setup": BORROWED, **dict.fromkeys(ESTIMATE_COLUMNS)}
    else:
        shared = {column: picture[column] for column in ESTIMATE_COLUMNS}
        if any(f for f, _ in recorded):
            shared.update(dict.fromkeys(FNUMBER_COLUMNS))
        if any(l for _, l in recorded):
            shared.update(dict.fromkeys(FOCAL_COLUMNS))
    return _if_predicted(raw, shared), _if_predicted(picture, shared)


def _if_predicted(row: Mapping[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """A file's own lens EXIF (status has_exif) is never overwritten by the shot's."""
    return dict(values) if row["status"] == "predicted" else {}


def changes(row: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, Any]:
    """The columns of wanted that differ from the row; a row whose written estimate
    changes is written again, so its file (or sidecar) says what its partner's does."""
    changed = {column: value for column, value in wanted.items() if row[column] != value}
    if changed and row["written"] and wanted.get("status", row["status"]) == "predicted":
        changed["written"] = 0
    return changed


def link_shots(store: Store) -> int:
    """Find every RAW+JPEG pair in the store, link it and give both rows the shot's
    estimate; returns how many pairs there are. Cheap: no file is read, only stat'ed."""
    shots = find_shots(store.shot_candidates())
    updates: list[tuple[str, dict[str, Any]]] = []
    for shot in shots:
        raw, picture = store.photo(shot.raw), store.photo(shot.picture)
        if raw is None or picture is None:
            continue
        for row, wanted in zip((raw, picture), shot_values(raw, picture)):
            changed = changes(row, wanted)
            if changed:
                updates.append((row["path"], changed))
    store.save_shots({shot.raw: shot.picture for shot in shots}, updates)
    return len(shots)
