"""One file, in a worker process: read it once, read its EXIF, decode it if needed.

Runs in worker processes because pyexiv2 is not thread-safe and decoding is CPU-bound.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .camera import CropFactor, resolve_crop_factor
from .errors import PhototagError
from .metadata import PhotoMetadata, read_metadata
from .modelspec import ModelSpec
from .preprocess import aux_vector, decode, probe_size, to_model_input


@dataclass(frozen=True)
class Task:
    """A file to analyse, with what discovery saw of it."""

    path: str
    size: int
    mtime_ns: int
    predict_if_labeled: bool


@dataclass(frozen=True)
class Analysed:
    """A worker's answer: metadata, and the model inputs if the photo needs a prediction."""

    task: Task
    meta: PhotoMetadata | None = None
    crop: CropFactor | None = None
    width: int | None = None
    height: int | None = None
    image: np.ndarray | None = None
    aux: np.ndarray | None = None
    error: str | None = None


def analyse(task: Task, spec: ModelSpec) -> Analysed:
    """Never raises for a bad file: the error becomes part of the answer."""
    try:
        with open(task.path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        return Analysed(task, error=f"it cannot be read ({exc.strerror or exc})")
    try:
        if not data:
            return Analysed(task, error="the file is empty")
        meta = read_metadata(data)
        width, height = meta.pixel_width, meta.pixel_height
        if not (width and height):
            width, height = probe_size(data)
        crop = resolve_crop_factor(meta, width, height)
        if not (task.predict_if_labeled or not meta.has_lens_exif):
            return Analysed(task, meta, crop, width, height)
        image = decode(data, spec.input_size)
        return Analysed(
            task, meta, crop, width, height,
            image=to_model_input(image, spec), aux=aux_vector(meta, crop),
        )
    except PhototagError as exc:
        return Analysed(task, error=_sentence(exc))


def _sentence(exc: BaseException) -> str:
    return str(exc).rstrip(".")


# --- worker process plumbing -------------------------------------------------------

_SPEC: ModelSpec | None = None


def init_worker(spec: ModelSpec) -> None:
    """Pool initializer: each worker keeps the spec and runs single-threaded numpy."""
    global _SPEC
    _SPEC = spec
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def analyse_in_worker(task: Task) -> Analysed:
    assert _SPEC is not None, "init_worker was not called"
    return analyse(task, _SPEC)
