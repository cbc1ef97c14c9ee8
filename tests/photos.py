"""Real photo files for tests: Pillow writes the pixels, pyexiv2 writes the EXIF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyexiv2
from PIL import Image

pyexiv2.set_log_level(4)


def rational(value: float, denominator: int = 100) -> str:
    """EXIF rational in the only form pyexiv2 writes correctly: 'n/d'."""
    return f"{round(value * denominator)}/{denominator}"


def make_photo(
    path: Path,
    size: tuple[int, int] = (160, 120),
    exif: dict[str, str] | None = None,
    seed: int = 0,
    fmt: str | None = None,
) -> Path:
    """A textured image (not flat: decoders and models must see detail) with given EXIF."""
    rng = np.random.default_rng(seed)
    w, h = size
    gradient = np.linspace(0, 255, w, dtype=np.float32)[None, :, None]
    noise = rng.normal(0, 30, size=(h, w, 3))
    tint = rng.uniform(0.2, 1.0, size=3)  # each seed its own colour cast
    pixels = np.clip(gradient * tint + noise + rng.uniform(0, 60), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format=fmt)
    if exif:
        with pyexiv2.Image(str(path)) as image:
            image.modify_exif(exif)
    return path


def camera_exif(
    fnumber: float | None = 2.8,
    focal: float | None = 50.0,
    make: str = "Canon",
    model: str = "Canon EOS 5D Mark II",
    exposure: str = "1/125",
    iso: int = 200,
    orientation: int = 1,
    focal35: int | None = None,
) -> dict[str, str]:
    """A camera body's EXIF; fnumber/focal None leaves them out (a manual lens)."""
    tags = {
        "Exif.Image.Make": make,
        "Exif.Image.Model": model,
        "Exif.Photo.ExposureTime": exposure,
        "Exif.Photo.ISOSpeedRatings": str(iso),
        "Exif.Photo.ExposureBiasValue": "0/3",
        "Exif.Photo.Flash": "16",
        "Exif.Image.Orientation": str(orientation),
    }
    if fnumber is not None:
        tags["Exif.Photo.FNumber"] = rational(fnumber, 10)
    if focal is not None:
        tags["Exif.Photo.FocalLength"] = rational(focal, 10)
    if focal35 is not None:
        tags["Exif.Photo.FocalLengthIn35mmFilm"] = str(focal35)
    return tags
