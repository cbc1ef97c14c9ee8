"""Pooled backbone features for every (photo, variant) row, computed once and cached.

The backbone is frozen, so its features are computed through onnxruntime (an order of
magnitude faster than eager torch on a CPU) and the heads train on the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..modelspec import INPUT_AUX, INPUT_IMAGE, ModelSpec
from .augment import Variant, relabel, render
from .harvest import LabeledPhoto

FEATURES_OUTPUT = "features"
BATCH = 32


@dataclass
class FeatureSet:
    """One row per rendered variant, tagged with its source photo (the split is by photo)."""

    features: np.ndarray  # [R, D] float32
    aux: np.ndarray  # [R, 9] float32
    fnumber: np.ndarray  # [R]
    focal35: np.ndarray  # [R]
    ev100: np.ndarray  # [R], NaN where the photo has no exposure EXIF
    photo: np.ndarray  # [R] int, index into the photo list
    identity: np.ndarray  # [R] bool, the un-augmented inference input

    def rows(self, photos: Sequence[int], identity_only: bool = False) -> FeatureSet:
        """The rows of these photos (only their inference inputs when identity_only)."""
        mask = np.isin(self.photo, np.asarray(list(photos), dtype=int))
        if identity_only:
            mask &= self.identity
        return FeatureSet(**{k: v[mask] for k, v in vars(self).items()})

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(path, **vars(self))

    @classmethod
    def load(cls, path: Path) -> FeatureSet:
        with np.load(path) as data:
            return cls(**{k: data[k] for k in data.files})


class Extractor:
    """Runs an ONNX file that outputs pooled features: a phototag model or a bare backbone."""

    def __init__(self, path: Path, output: str = FEATURES_OUTPUT) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = os.cpu_count() or 1
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.output = output
        self.inputs = {i.name for i in self.session.get_inputs()}
        if output not in {o.name for o in self.session.get_outputs()}:
            raise ValueError(f"{self.path.name} has no {output!r} output")

    def __call__(self, images: np.ndarray, aux: np.ndarray) -> np.ndarray:
        feeds = {INPUT_IMAGE: images}
        if INPUT_AUX in self.inputs:
            feeds[INPUT_AUX] = aux
        return self.session.run([self.output], feeds)[0]

    def identity(self) -> str:
        stat = self.path.stat()
        return f"{self.path.name}:{stat.st_size}:{stat.st_mtime_ns}:{self.output}"


def backbone_extractor(variant: str, size: int, cache_dir: Path) -> Extractor:
    """A bare pretrained backbone exported once to ONNX in the cache folder."""
    from .backbone import export_onnx, load_backbone

    path = cache_dir / f"backbone-{variant}-{size}.onnx"
    if not path.is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        export_onnx(load_backbone(variant), path, size)
    return Extractor(path, output="output")


def cache_key(photos: Sequence[LabeledPhoto], plans: Sequence[Sequence[Variant]],
              spec: ModelSpec, extractor: Extractor) -> str:
    """Changes when any photo file, variant plan, input size or feature model changes."""
    parts = [extractor.identity(), str(spec.input_size)]
    for photo, variants in zip(photos, plans):
        stat = os.stat(photo.path)
        parts.append(f"{photo.path}:{stat.st_size}:{stat.st_mtime_ns}:{variants!r}")
    return hashlib.sha1(json.dumps(parts).encode()).hexdigest()[:16]


def extract(
    photos: Sequence[LabeledPhoto],
    plans: Sequence[Sequence[Variant]],
    spec: ModelSpec,
    extractor: Extractor,
    cache_dir: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> FeatureSet:
    """Render every planned variant of every photo and compute its features (cached by content)."""
    cache = cache_dir / f"features-{cache_key(photos, plans, spec, extractor)}.npz" if cache_dir else None
    if cache and cache.is_file():
        return FeatureSet.load(cache)
    rows: dict[str, list] = {k: [] for k in ("image", "aux", "fnumber", "focal35", "ev100", "photo", "identity")}
    feats: list[np.ndarray] = []
    for index, (photo, variants) in enumerate(zip(photos, plans)):
        data = Path(photo.path).read_bytes()
        for variant in variants:
            focal35, aux = relabel(photo.focal35, photo.aux, variant)
            for key, value in (("image", render(data, spec, variant)), ("aux", aux),
                               ("fnumber", photo.fnumber), ("focal35", focal35),
                               ("ev100", np.nan if photo.ev100 is None else photo.ev100),
                               ("photo", index), ("identity", variant.is_identity)):
                rows[key].append(value)
        if len(rows["image"]) >= BATCH:
            feats.append(extractor(np.stack(rows["image"]), np.stack(rows["aux"][-len(rows["image"]):])))
            rows["image"] = []
        if progress:
            progress(1)
    if rows["image"]:
        feats.append(extractor(np.stack(rows["image"]), np.stack(rows["aux"][-len(rows["image"]):])))
    result = FeatureSet(
        features=np.concatenate(feats).astype(np.float32),
        aux=np.stack(rows["aux"]).astype(np.float32),
        fnumber=np.asarray(rows["fnumber"], np.float64),
        focal35=np.asarray(rows["focal35"], np.float64),
        ev100=np.asarray(rows["ev100"], np.float64),
        photo=np.asarray(rows["photo"], int),
        identity=np.asarray(rows["identity"], bool),
    )
    if cache:
        result.save(cache)
    return result
