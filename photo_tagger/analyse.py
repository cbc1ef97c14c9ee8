"""One file, in a worker process: read it once, read its EXIF, decode it if needed.

Runs in worker processes because pyexiv2 is not thread-safe and decoding is CPU-bound.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from .atomic import sha256
from .camera import CropFactor, resolve_crop_factor
from .discover import is_raw
from .errors import MetadataError, PhototagError, UnreadableImage
from .lenses import LensResolver
from .metadata import PhotoMetadata, read_metadata, with_sidecars
from .modelspec import ModelSpec
from .provenance import not_photo_reason
from .preprocess import aux_vector, decode, probe_size, resize_for_model

HEAD_BYTES = 256 * 1024  # a JPEG's EXIF, XMP and ICC blocks almost always fit


@dataclass(frozen=True)
class Task:
    """A file to analyse, with what discovery saw of it."""

    path: str
    size: int
    mtime_ns: int
    predict_if_labeled: bool
    include_non_photos: bool = False  # estimate files provenance.py says are no camera photos


@dataclass(frozen=True)
class Analysed:
    """A worker's answer: metadata, and the model inputs if the photo needs a prediction."""

    task: Task
    meta: PhotoMetadata | None = None
    crop: CropFactor | None = None
    width: int | None = None
    height: int | None = None
    pixels: np.ndarray | None = None  # uint8 HWC at the model's size; normalised per batch
    aux: np.ndarray | None = None
    error: str | None = None
    content_hash: str | None = None  # sha256 of the file, when it was read whole
    not_photo: str | None = None  # why it is no camera photo (provenance.py); None: it may be one


def analyse(task: Task, spec: ModelSpec, crops: Mapping[str, float] | None = None,
            lenses: LensResolver | None = None) -> Analysed:
    """Never raises for a bad file: the error becomes part of the answer.

    crops: the user's crop factors by body model (`phototag camera set`), which win.
    lenses: the user's lens facts; a photo they place on a manual lens is predicted even
    when it carries lens EXIF (a chip's), so it is decoded.
    """
    raw = is_raw(task.path)  # read whole (only JPEGs are read in part), decoded from its preview
    try:
        with open(task.path, "rb") as handle:
            data, complete, meta = read_file_metadata(handle)
            meta = with_sidecars(meta, task.path)
            width, height = meta.pixel_width, meta.pixel_height
            if not (width and height):
                width, height = probe_size(data, raw)  # the header is almost always in the head
                if width is None and not complete:
                    data, complete = data + handle.read(), True
                    width, height = probe_size(data)
            crop = resolve_crop_factor(meta, width, height, crops)
            not_photo = not_photo_reason(meta, data, task.path)
            if not_photo and not task.include_non_photos:  # never decoded, never estimated
                return Analysed(task, meta, crop, width, height, content_hash=sha256(data) if complete else None,
                                not_photo=not_photo)
            labeled = meta.has_lens_exif and not (lenses and lenses.places_manual(task.path, meta))
            if labeled and not task.predict_if_labeled:
                return Analysed(task, meta, crop, width, height, content_hash=sha256(data) if complete else None,
                                not_photo=not_photo)
            if not complete:
                data = data + handle.read()
        image = decode(data, spec.input_size, raw)
        return Analysed(
            task, meta, crop, width, height,
            pixels=resize_for_model(image, spec), aux=aux_vector(meta, crop), content_hash=sha256(data),
            not_photo=not_photo,
        )
    except OSError as exc:
        return Analysed(task, error=f"it cannot be read ({exc.strerror or exc})")
    except PhototagError as exc:
        return Analysed(task, error=_sentence(exc))


def read_file_metadata(handle: BinaryIO) -> tuple[bytes, bool, PhotoMetadata]:
    """EXIF from the file's head where that suffices: all of a JPEG's metadata precedes its
    image data, so a photo that needs no prediction is never read in full.

    Returns the bytes read, whether they are the whole file, and the metadata.
    """
    head = handle.read(HEAD_BYTES)
    if not head:
        raise UnreadableImage("the file is empty")
    if head[:2] == b"\xff\xd8" and len(head) == HEAD_BYTES:
        try:
            return head, False, read_metadata(head)
        except MetadataError:
            pass  # metadata reaching past the head, or a real fault: decide on the whole file
    data = head + handle.read()
    return data, True, read_metadata(data)


def _sentence(exc: BaseException) -> str:
    return str(exc).rstrip(".")


# --- worker process plumbing -------------------------------------------------------

_SPEC: ModelSpec | None = None
_CROPS: Mapping[str, float] | None = None
_LENSES: LensResolver | None = None


def init_worker(spec: ModelSpec, crops: Mapping[str, float] | None = None,
                lenses: LensResolver | None = None) -> None:
    """Pool initializer: each worker keeps the spec (crop overrides, lens facts), runs single-threaded numpy."""
    global _SPEC, _CROPS, _LENSES
    _SPEC, _CROPS, _LENSES = spec, crops, lenses
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def analyse_in_worker(task: Task) -> Analysed:
    assert _SPEC is not None, "init_worker was not called"
    return analyse(task, _SPEC, _CROPS, _LENSES)
