"""Turn a file's bytes into the model's input. The only place Pillow opens photos.

The trainer calls these same functions, so training and inference cannot drift. A RAW
file is decoded from its embedded preview (rawpreview.py); HEIC/HEIF through pillow-heif,
AVIF through Pillow's own plugin.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .camera import CropFactor
from .errors import UnreadableImage
from .metadata import PhotoMetadata
from .modelspec import AUX_FEATURES, ModelSpec
from .rawpreview import Preview, check_preview_size, raw_preview, raw_size

# Larger than any camera writes (a 150 MP medium-format frame), smaller than a bomb.
MAX_PIXELS = 250_000_000
Image.MAX_IMAGE_PIXELS = None  # we check the size ourselves, with a clear message

_OPENERS = False


def register_openers() -> None:
    """HEIC/HEIF through pillow-heif, once per process (AVIF Pillow reads itself)."""
    global _OPENERS
    if not _OPENERS:
        from pillow_heif import register_heif_opener

        register_heif_opener()
        _OPENERS = True


def decode(data: bytes, min_side: int | None, raw: bool = False) -> Image.Image:
    """Decode to an upright RGB image at least min_side px on each side (None: full size).

    JPEG draft mode (DCT scaling) means a 24 MP photo is never fully decoded when the
    model needs a few hundred pixels. raw: the bytes are a RAW file (discover.is_raw), whose
    embedded preview is decoded instead, turned by the RAW's own orientation.
    """
    if not data:
        raise UnreadableImage("the file is empty")
    if raw:
        return _decode_preview(raw_preview(data), min_side)
    register_openers()
    return _open(data, min_side)


def _decode_preview(preview: Preview, min_side: int | None) -> Image.Image:
    """A RAW's preview, upright by the RAW's orientation: the preview's own EXIF, where it
    has any, repeats the RAW's, so applying both would turn it twice."""
    if preview.bitmap is not None:
        image = Image.fromarray(preview.bitmap.squeeze()).convert("RGB")
    else:
        image = _open(preview.jpeg or b"", min_side, transpose=False, check=check_preview_size)
    method = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_270,
              8: Image.Transpose.ROTATE_90}.get(preview.orientation)
    return image.transpose(method) if method is not None else image


def _open(data: bytes, min_side: int | None, transpose: bool = True,
          check: Callable[[int, int], None] | None = None) -> Image.Image:
    """Pillow's decode with the size limits; check(width, height) may refuse before decoding."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise UnreadableImage(
                    f"the image claims {width}x{height} pixels, over the "
                    f"{MAX_PIXELS // 1_000_000} MP safety limit (a decompression bomb?)"
                )
            if check is not None:
                check(width, height)
            if min_side and image.format == "JPEG":
                image.draft("RGB", (min_side, min_side))
            image.load()
            if transpose:
                ImageOps.exif_transpose(image, in_place=True)  # no copy of an upright photo
            return image if image.mode == "RGB" else image.convert("RGB")
    except UnreadableImage:
        raise
    except UnidentifiedImageError as exc:
        raise UnreadableImage("it is not an image Pillow can read") from exc
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, EOFError) as exc:
        raise UnreadableImage(f"the image data is damaged ({_short(exc)})") from exc


def probe_size(data: bytes, raw: bool = False) -> tuple[int | None, int | None]:
    """The stored pixel size from the header alone (None if Pillow cannot read it)."""
    if raw:
        return raw_size(data)
    register_openers()
    try:
        with warnings.catch_warnings():  # a head cut mid-TIFF makes Pillow warn; None answers
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                return image.size
    except (OSError, ValueError, SyntaxError, EOFError, UnidentifiedImageError):
        return None, None


def resize_for_model(image: Image.Image, spec: ModelSpec) -> np.ndarray:
    """The whole frame squashed to the model's square input, as uint8 HWC.

    Squashed rather than cropped: cropping would change the field of view, and so the
    35 mm-equivalent focal length the model must read from it. uint8 is also what travels
    from the decoding workers: a quarter of the bytes of the float input.
    """
    size = spec.input_size
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=3.0))


def normalise(pixels: np.ndarray, spec: ModelSpec) -> np.ndarray:
    """uint8 (..., H, W, 3) to the model's normalised float32 (..., 3, H, W); batches too."""
    # Channels move first while still one byte each; one subtraction then writes the float
    # array and the division runs in place: the float32 operations of (x - mean) / std in
    # the same order, so the same bits, with a fifth of the time.
    per_channel = (-1, 1, 1)
    array = np.subtract(
        np.moveaxis(pixels, -1, -3), np.asarray(spec.mean, np.float32).reshape(per_channel),
        dtype=np.float32, order="C",
    )
    array /= np.asarray(spec.std, np.float32).reshape(per_channel)
    return array


def to_model_input(image: Image.Image, spec: ModelSpec) -> np.ndarray:
    """One decoded photo to the model's input (float32 CHW)."""
    return normalise(resize_for_model(image, spec), spec)


def prepare(data: bytes, spec: ModelSpec, raw: bool = False) -> np.ndarray:
    """File bytes to model input: the one path shared by scan and the trainer's evaluation."""
    return to_model_input(decode(data, spec.input_size, raw), spec)


def aux_vector(meta: PhotoMetadata, crop: CropFactor | None) -> np.ndarray:
    """The body's records as model inputs, each with a 'present' flag (film scans lack them)."""
    t, iso = meta.exposure_time, meta.iso
    values = {
        "log2_exposure_time": math.log2(t) if t else 0.0,
        "has_exposure_time": 1.0 if t else 0.0,
        "log2_iso_over_100": math.log2(iso / 100.0) if iso else 0.0,
        "has_iso": 1.0 if iso else 0.0,
        "exposure_bias_ev": float(np.clip(meta.exposure_bias or 0.0, -5.0, 5.0)),
        "flash_fired": 1.0 if meta.flash_fired else 0.0,
        "has_flash": 0.0 if meta.flash_fired is None else 1.0,
        "log2_crop_factor": math.log2(crop.value) if crop else 0.0,
        "has_crop_factor": 1.0 if crop else 0.0,
    }
    return np.asarray([values[name] for name in AUX_FEATURES], dtype=np.float32)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
