"""Pooled backbone features for every (photo, variant) row, computed once and cached.

The backbone is frozen, so its features are computed through onnxruntime (an order of
magnitude faster than eager torch on a CPU) and the heads train on the cache.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..discover import is_raw
from ..errors import PhototagError, UnreadablePhotos
from ..modelspec import AUX_FEATURES, INPUT_AUX, INPUT_IMAGE, ModelSpec
from .augment import Variant, relabel, render
from .feature_cache import FeatureCache, photo_key
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

    def indices(self, photos: Sequence[int], identity_only: bool = False) -> np.ndarray:
        """Positions of these photos' rows, in row order (only their inference inputs when identity_only)."""
        mask = np.isin(self.photo, np.asarray(list(photos), dtype=int))
        if identity_only:
            mask &= self.identity
        return np.flatnonzero(mask)

    def rows(self, photos: Sequence[int], identity_only: bool = False) -> FeatureSet:
        """The rows of these photos (only their inference inputs when identity_only)."""
        index = self.indices(photos, identity_only)
        return FeatureSet(**{k: v[index] for k, v in vars(self).items()})

    def labels(self, index: np.ndarray) -> FeatureSet:
        """These rows' labels and body records without their features, which may be large
        maps on disk (finetune.py) that must not all be read into memory at once."""
        labels = {k: v[index] for k, v in vars(self).items() if k != "features"}
        return FeatureSet(features=np.zeros((len(index), 0), np.float32), **labels)


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


def _keys(photos: Sequence[LabeledPhoto], plans: Sequence[Sequence[Variant]], spec: ModelSpec,
          extractor: Extractor) -> list[str]:
    model = extractor.identity()
    keys = []
    for photo, variants in zip(photos, plans):
        stat = os.stat(photo.path)
        keys.append(photo_key(model, spec.input_size, photo.path, stat.st_size, stat.st_mtime_ns, repr(variants)))
    return keys


def _compute(todo: Sequence[int], photos: Sequence[LabeledPhoto], plans: Sequence[Sequence[Variant]],
             spec: ModelSpec, extractor: Extractor, done: Callable[[list[int], list[np.ndarray]], None],
             progress: Callable[[int], None] | None) -> list[tuple[str, str]]:
    """Render and run the photos in `todo`, about BATCH variants at a time; `done` gets each
    batch's photos and their feature rows as soon as they exist. A photo that will not
    decode is skipped and returned with its reason: one bad file must not stop the rest."""
    batch: list[int] = []
    images: list[np.ndarray] = []
    aux: list[np.ndarray] = []
    failures: list[tuple[str, str]] = []

    def flush() -> None:
        out = extractor(np.stack(images), np.stack(aux).astype(np.float32))
        done(list(batch), np.split(out, np.cumsum([len(plans[i]) for i in batch])[:-1]))
        batch.clear()
        images.clear()
        aux.clear()

    for index in todo:
        photo = photos[index]
        try:
            data = Path(photo.path).read_bytes()
            rendered = [render(data, spec, variant, is_raw(photo.path)) for variant in plans[index]]
        except (OSError, PhototagError) as exc:
            failures.append((photo.path, str(getattr(exc, "strerror", None) or exc).rstrip(".")))
        else:
            images.extend(rendered)
            aux.extend(relabel(photo.focal35, photo.aux, variant)[1] for variant in plans[index])
            batch.append(index)
            if len(images) >= BATCH:
                flush()
        if progress:
            progress(1)
    if batch:
        flush()
    return failures


def extract(
    photos: Sequence[LabeledPhoto],
    plans: Sequence[Sequence[Variant]],
    spec: ModelSpec,
    extractor: Extractor,
    cache_dir: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> FeatureSet:
    """Render every planned variant of every photo and compute its features; with a cache
    folder, only for photos it does not hold yet (feature_cache.py)."""
    cache = FeatureCache(cache_dir) if cache_dir else None
    keys = _keys(photos, plans, spec, extractor) if cache is not None else []
    feats: dict[int, np.ndarray] = {}
    if cache is not None:
        have = cache.get(keys)
        feats = {i: have[k] for i, k in enumerate(keys) if k in have}
        if progress and feats:
            progress(len(feats))

    def done(batch: list[int], rows: list[np.ndarray]) -> None:
        feats.update(zip(batch, rows))
        if cache is not None:
            cache.put((keys[i], r) for i, r in zip(batch, rows))

    try:
        failures = _compute([i for i in range(len(photos)) if i not in feats], photos, plans, spec, extractor,
                            done, progress)
    finally:
        if cache is not None:
            cache.close()
    if failures:  # the rest are cached: leaving these out and asking again costs little
        raise UnreadablePhotos(failures)
    return _assemble(photos, plans, feats)


def extract_to_file(photos: Sequence[LabeledPhoto], plans: Sequence[Sequence[Variant]], spec: ModelSpec,
                    extractor: Extractor, path: Path, progress: Callable[[int], None] | None = None) -> FeatureSet:
    """As extract, uncached, but each batch's rows go straight into a .npy file on disk and
    `features` is a read-only memory map of it: for outputs (the feature maps fine-tuning
    needs) too large to hold every row of a library in memory."""
    offsets = np.concatenate([[0], np.cumsum([len(p) for p in plans])]).astype(int)
    out: list[np.ndarray] = []

    def done(batch: list[int], rows: list[np.ndarray]) -> None:
        if not out:
            out.append(np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                                 shape=(int(offsets[-1]), *rows[0].shape[1:])))
        for index, values in zip(batch, rows):
            out[0][offsets[index]:offsets[index + 1]] = values

    failures = _compute(range(len(photos)), photos, plans, spec, extractor, done, progress)
    if failures:
        raise UnreadablePhotos(failures)
    out[0].flush()
    del out[0]
    return FeatureSet(features=np.load(path, mmap_mode="r"), **_labels(photos, plans))


def _assemble(photos: Sequence[LabeledPhoto], plans: Sequence[Sequence[Variant]],
              feats: dict[int, np.ndarray]) -> FeatureSet:
    """The feature rows in photo order, with their labels."""
    features = np.concatenate([feats[i] for i in range(len(photos))]).astype(np.float32)
    return FeatureSet(features=features, **_labels(photos, plans))


_FLASH = AUX_FEATURES.index("flash_fired")


def _labels(photos: Sequence[LabeledPhoto], plans: Sequence[Sequence[Variant]]) -> dict[str, np.ndarray]:
    """Every row's labels and body records, in photo order (relabelled for its variant's crop).
    A photo whose flash fired teaches no scene light: the flash set its exposure."""
    rows: dict[str, list] = {k: [] for k in ("aux", "fnumber", "focal35", "ev100", "photo", "identity")}
    for index, (photo, variants) in enumerate(zip(photos, plans)):
        for variant in variants:
            focal35, aux = relabel(photo.focal35, photo.aux, variant)
            for key, value in (("aux", aux), ("fnumber", photo.fnumber), ("focal35", focal35),
                               ("ev100", np.nan if photo.ev100 is None or photo.aux[_FLASH] > 0 else photo.ev100),
                               ("photo", index), ("identity", variant.is_identity)):
                rows[key].append(value)
    return {
        "aux": np.stack(rows["aux"]).astype(np.float32),
        "fnumber": np.asarray(rows["fnumber"], np.float64),
        "focal35": np.asarray(rows["focal35"], np.float64),
        "ev100": np.asarray(rows["ev100"], np.float64),
        "photo": np.asarray(rows["photo"], int),
        "identity": np.asarray(rows["identity"], bool),
    }
