"""Know the body: its crop factor, from EXIF or the lensfun camera database.

Depth of field depends on the sensor's size, and the body is known even when the lens
is not, so the crop factor is an input to the model and converts its 35 mm-equivalent
focal length into the real one.
"""

from __future__ import annotations

import fnmatch
import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from .metadata import PhotoMetadata

FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)
_UNIT_MM = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}
_PLAUSIBLE = (0.25, 15.0)  # a 4x5 in film back to a 1/6 in sensor: what a user may set
# What a digital body's own tags may say: the largest digital sensor, 645 medium format
# (53.4 x 40 mm), is a 0.65 crop. Less is a misread tag, not a sensor: a FLIR thermal core
# writes its 10.9 x 8.7 mm sensor size as a focal-plane resolution, which reads as 0.52.
_DIGITAL_MIN = 0.6
# In-camera crop modes make a body's frame at most about 1.6 times smaller (APS-C modes of
# full-frame bodies, 1.3x modes); an export shrunk to 2048 px from a 6000 px frame reads as
# 2.9 times when its editor updated the pixel-dimension tags but kept the focal-plane ones.
CROP_MODE_LIMIT = 1.7


@dataclass(frozen=True)
class CropFactor:
    """A crop factor and where it came from: user, exif_35mm, focal_plane or lensfun."""

    value: float
    source: str


def from_35mm_tag(meta: PhotoMetadata) -> CropFactor | None:
    """FocalLengthIn35mmFilm / FocalLength: the body's own statement."""
    if meta.focal_length_35mm and meta.focal_length:
        return _plausible(meta.focal_length_35mm / meta.focal_length, "exif_35mm", _DIGITAL_MIN)
    return None


def from_focal_plane(meta: PhotoMetadata, width: int | None, height: int | None) -> CropFactor | None:
    """Sensor size from the focal-plane resolution tags and the pixel dimensions."""
    unit = _UNIT_MM.get(meta.focal_plane_unit or 2)
    w = meta.pixel_width or width
    h = meta.pixel_height or height
    xres, yres = meta.focal_plane_x_res, meta.focal_plane_y_res or meta.focal_plane_x_res
    if not (unit and w and h and xres and yres):
        return None
    diagonal = math.hypot(w / xres * unit, h / yres * unit)
    if diagonal <= 0:
        return None
    return _plausible(FULL_FRAME_DIAGONAL_MM / diagonal, "focal_plane", _DIGITAL_MIN)


@functools.lru_cache(maxsize=1)
def _lensfun_db():  # type: ignore[no-untyped-def]
    import lensfunpy

    return lensfunpy.Database()


@functools.lru_cache(maxsize=4096)
def _lensfun_cameras(make: str | None, model: str | None) -> tuple:  # type: ignore[type-arg]
    """The lensfun cameras that are exactly this body (usually one)."""
    if not make or not model:
        return ()
    try:
        return tuple(_lensfun_db().find_cameras(make, model, loose_search=False) or ())
    except Exception:  # lensfun's C layer raises plain errors on odd strings
        return ()


def lensfun_crop(make: str | None, model: str | None) -> float | None:
    """The crop factor lensfun lists for this body, if it knows it exactly."""
    for camera in _lensfun_cameras(make, model):
        if camera.crop_factor and camera.crop_factor > 0:
            return float(camera.crop_factor)
    return None


def from_lensfun(meta: PhotoMetadata) -> CropFactor | None:
    value = lensfun_crop(meta.make, meta.model)
    return _plausible(value, "lensfun") if value else None


def from_user(meta: PhotoMetadata, overrides: Mapping[str, float] | None) -> CropFactor | None:
    """The crop factor the user set for this body (`phototag camera set`), by model name."""
    if not overrides or not meta.model:
        return None
    names = {meta.model.casefold().strip(), " ".join(filter(None, (meta.make, meta.model))).casefold().strip()}
    for model, value in overrides.items():
        if model.casefold().strip() in names:
            return _plausible(value, "user")
    return None


def resolve_crop_factor(
    meta: PhotoMetadata, width: int | None = None, height: int | None = None,
    overrides: Mapping[str, float] | None = None,
) -> CropFactor | None:
    """The first source that answers, in order of trust: the user, 35 mm tag, focal plane, lensfun.

    The focal plane knows an in-camera crop mode that lensfun cannot, but a resized copy
    fools it: one more than CROP_MODE_LIMIT times lensfun's for the same body is taken for
    a copy, and lensfun's sensor wins.
    """
    stated = from_user(meta, overrides) or from_35mm_tag(meta)
    if stated:
        return stated
    plane, body = from_focal_plane(meta, width, height), from_lensfun(meta)
    if plane and body and plane.value > body.value * CROP_MODE_LIMIT:
        return body
    return plane or body


UNKNOWN_BODY = "unknown body"


def body_name(make: str | None, model: str | None) -> str:
    """'Make Model' without the make repeated: Canon writes 'Canon' and 'Canon EOS 5D', Nikon
    'NIKON CORPORATION' and 'NIKON D90', Kodak 'EASTMAN KODAK COMPANY' and 'KODAK Z612'."""
    make, model = " ".join((make or "").split()), " ".join((model or "").split())
    first = re.match(r"\w+", model.casefold())
    if make and model and first and first.group() in re.findall(r"\w+", make.casefold()):
        return model
    return f"{make} {model}".strip() or UNKNOWN_BODY


def _plausible(value: float, source: str, lowest: float = _PLAUSIBLE[0]) -> CropFactor | None:
    if lowest <= value <= _PLAUSIBLE[1]:
        return CropFactor(round(value, 4), source)
    return None


# --- bodies with a fixed lens ------------------------------------------------------------
# A manual lens needs a mount. lensfun names the mount of an interchangeable-lens body
# ('Canon EF-S', 'Micro 4/3 System', 'Pentax Q') and gives a compact's built-in lens a mount
# of its own, named after the camera in lowerCamelCase ('canonS95', 'nikonP6000'). Bodies
# lensfun does not know: phones by their maker, compacts by their product line, and any
# sensor smaller than about 3 times full frame (1/1.7 in and below; the smallest sensors
# with interchangeable lenses, Pentax Q and Nikon 1, are in lensfun).
PHONE_MAKERS = frozenset({
    "apple", "google", "samsung", "xiaomi", "redmi", "poco", "huawei", "honor", "oneplus", "oppo", "vivo",
    "realme", "motorola", "lge", "lg", "hmd", "nokia", "meizu", "tct", "tcl", "zte", "htc", "fairphone",
    "blackberry", "lenovo", "asus", "infinix", "tecno", "nothing", "qcom-aa",
})
PHONE_LINES = ("iphone", "ipad", "pixel", "galaxy", "xperia")
COMPACT_LINES = ("powershot", "ixus", "ixy", "elph", "coolpix", "cyber-shot", "cybershot", "dsc-", "easyshare",
                 "zoom digital camera", "optio", "finepix f", "lumix dmc-tz")
FIXED_LENS_CROP = 3.0


def _fixed_mount(mount: str | None) -> bool:
    return bool(mount) and mount[0].islower()  # type: ignore[index]


def fixed_lens(make: str | None, model: str | None, crop: CropFactor | None = None) -> str | None:
    """Why this body cannot take a manual lens ('a phone'), or None when it may.

    A crop factor the user set for the body (`phototag camera set`) says it takes lenses:
    the way out for a phone that photographs film, say."""
    if crop is not None and crop.source == "user":
        return None
    known = _lensfun_cameras(make, model)
    if known:
        return "lensfun lists its built-in lens" if all(_fixed_mount(c.mount) for c in known) else None
    named = _fixed_by_name(make, model)
    if named or crop is None or crop.value <= FIXED_LENS_CROP:
        return named
    return f"a crop factor of {crop.value:.1f}: a compact's or a phone's sensor"


def _fixed_by_name(make: str | None, model: str | None) -> str | None:
    """A phone by its maker, a compact by its product line (PowerShot, COOLPIX, EasyShare)."""
    maker = " ".join((make or model or "").split()).casefold()
    if maker.split(" ")[0] in PHONE_MAKERS or maker.replace(" ", "") in PHONE_MAKERS:
        return "a phone"
    name = " ".join((model or "").split()).casefold()
    if any(line in name for line in PHONE_LINES):
        return "a phone"
    return "a compact camera" if any(line in name for line in COMPACT_LINES) else None


def fixed_lens_named(pattern: str) -> str | None:
    """Why the bodies a --camera rule names cannot take a manual lens, or None: every lensfun
    camera it matches has a built-in lens, or it names a phone or a compact line."""
    wanted = " ".join(pattern.split()).casefold()
    known = [c for c in _lensfun_db().cameras if any(fnmatch.fnmatchcase(name.casefold(), wanted)
                                                     for name in (c.model, f"{c.maker} {c.model}"))]
    if known:
        return "lensfun lists its built-in lens" if all(_fixed_mount(c.mount) for c in known) else None
    return _fixed_by_name(None, wanted.strip("*?"))
