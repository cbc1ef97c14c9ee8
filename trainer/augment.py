"""Augmentations that respect the optics: each one says how it changes the labels.

Cropping by k (on the full-size image, before resizing, so nothing is upscaled) makes the
35 mm-equivalent focal length k times longer and the body's effective crop factor k times
larger; the FNumber stays. Photometric changes (flip, brightness, contrast, JPEG
recompression, downscale-then-upscale) change no label. Nothing rotates.
"""

from __future__ import annotations

import io
import math
import random
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from ..modelspec import AUX_FEATURES, ModelSpec
from ..preprocess import decode, prepare, to_model_input

CROP_FACTORS = (1.0, 1.25, 1.6, 2.0)
_CROP_INDEX = AUX_FEATURES.index("log2_crop_factor")
_HAS_CROP_INDEX = AUX_FEATURES.index("has_crop_factor")


@dataclass(frozen=True)
class Variant:
    """One augmented rendering of a photo; the identity variant is exactly the inference input."""

    crop: float = 1.0
    flip: bool = False
    brightness: float = 1.0
    contrast: float = 1.0
    jpeg_quality: int | None = None
    rescale: float | None = None

    @property
    def is_identity(self) -> bool:
        return self == Variant()


IDENTITY = Variant()


def plan(rng: random.Random, crops: tuple[float, ...] = CROP_FACTORS, per_crop: int = 1) -> list[Variant]:
    """The identity plus, per crop factor, `per_crop` random photometric variants."""
    variants = [IDENTITY]
    for k in crops:
        for _ in range(per_crop):
            variant = Variant(
                crop=k,
                flip=rng.random() < 0.5,
                brightness=rng.uniform(0.75, 1.25),
                contrast=rng.uniform(0.8, 1.2),
                jpeg_quality=rng.choice([None, 35, 60, 85]),
                rescale=rng.choice([None, None, 0.5, 0.35]),
            )
            if variant not in variants:
                variants.append(variant)
    return variants


def render(data: bytes, spec: ModelSpec, variant: Variant, raw: bool = False) -> np.ndarray:
    """The model input for this variant; the identity goes through `prepare` itself.
    raw: the bytes are a RAW file, decoded from its preview as the scan does."""
    if variant.is_identity:
        return prepare(data, spec, raw)
    image = decode(data, int(math.ceil(spec.input_size * variant.crop)), raw)
    image = centre_crop(image, variant.crop)
    if variant.flip:
        image = ImageOps.mirror(image)
    image = ImageEnhance.Brightness(image).enhance(variant.brightness)
    image = ImageEnhance.Contrast(image).enhance(variant.contrast)
    if variant.rescale:
        small = (max(16, int(image.width * variant.rescale)), max(16, int(image.height * variant.rescale)))
        image = image.resize(small, Image.Resampling.BILINEAR).resize(image.size, Image.Resampling.BILINEAR)
    if variant.jpeg_quality:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=variant.jpeg_quality)
        image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return to_model_input(image, spec)


def centre_crop(image: Image.Image, k: float) -> Image.Image:
    """The central 1/k of each side: the field of view of a k-times smaller sensor."""
    if k <= 1.0:
        return image
    w, h = image.size
    cw, ch = round(w / k), round(h / k)
    left, top = (w - cw) // 2, (h - ch) // 2
    return image.crop((left, top, left + cw, top + ch))


def relabel(focal35: float, aux: np.ndarray, variant: Variant) -> tuple[float, np.ndarray]:
    """Labels and aux inputs for a cropped variant: focal35 * k, log2 crop factor + log2 k.

    An unknown crop factor stays unknown (its focal35 is NaN and stays NaN).
    """
    aux = aux.copy()
    if variant.crop != 1.0 and aux[_HAS_CROP_INDEX] > 0:
        aux[_CROP_INDEX] += math.log2(variant.crop)
    return focal35 * variant.crop, aux
