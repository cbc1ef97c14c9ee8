"""The preview a RAW file embeds, read through LibRaw (rawpy), never a full demosaic.

Every camera stores a JPEG (sometimes a bitmap) rendering of the frame beside the sensor
data; the model needs 320 px, so that preview serves in milliseconds where demosaicing a
24 MP frame takes a second and gigabytes. exiv2 lists previews too, but pyexiv2 does not
expose them; LibRaw picks the largest preview it finds, which is the one wanted.

Only the bytes are taken here: Pillow opens them in preprocess.decode, the one place it
opens photos.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np

from .errors import UnreadableImage

# A preview whose short side is under the model's 320 px input is an EXIF thumbnail
# (160x120 and the like): upscaled, it would show blur the lens never made, and blur is
# what the model reads the aperture from. Such a file has "no usable preview".
MIN_PREVIEW_SIDE = 320

# LibRaw's flip (sizes.flip) as the EXIF Orientation value that undoes it
_FLIP_TO_ORIENTATION = {0: 1, 3: 3, 5: 8, 6: 6}

NO_PREVIEW = "no usable preview"


@dataclass(frozen=True)
class Preview:
    """An embedded preview: JPEG bytes or an RGB bitmap, and the RAW's orientation."""

    orientation: int
    jpeg: bytes | None = None
    bitmap: np.ndarray | None = field(default=None, compare=False)


def raw_preview(data: bytes) -> Preview:
    """The RAW's embedded preview, or UnreadableImage saying why there is none."""
    import rawpy

    try:
        with rawpy.imread(io.BytesIO(data)) as raw:
            orientation = _FLIP_TO_ORIENTATION.get(raw.sizes.flip, 1)
            thumb = raw.extract_thumb()
    except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError) as exc:
        raise UnreadableImage(f"{NO_PREVIEW} (the RAW file embeds no preview image phototag can read)") from exc
    except rawpy.LibRawError as exc:
        raise _libraw_error(exc) from exc
    if thumb.format == rawpy.ThumbFormat.JPEG:
        return Preview(orientation, jpeg=bytes(thumb.data))
    bitmap = np.asarray(thumb.data)
    check_preview_size(bitmap.shape[1], bitmap.shape[0])
    return Preview(orientation, bitmap=bitmap)


def raw_size(data: bytes) -> tuple[int | None, int | None]:
    """The sensor image's size as stored (before orientation); None where LibRaw cannot read it.

    Pillow reads a TIFF-based RAW's first image, a thumbnail: its size would be wrong."""
    import rawpy

    try:
        with rawpy.imread(io.BytesIO(data)) as raw:
            return raw.sizes.width, raw.sizes.height
    except rawpy.LibRawError:
        return None, None


def check_preview_size(width: int, height: int) -> None:
    """Refuse a preview too small to show what the model reads."""
    if min(width, height) < MIN_PREVIEW_SIDE:
        raise UnreadableImage(f"{NO_PREVIEW} (its largest embedded preview is {width}x{height} px, "
                              f"under the {MIN_PREVIEW_SIDE} px the model needs)")


def _libraw_error(exc: Exception) -> UnreadableImage:
    import rawpy

    if isinstance(exc, rawpy.LibRawFileUnsupportedError):
        return UnreadableImage("it is not a RAW file LibRaw can read")
    text = str(exc).strip().strip("b'\"") or type(exc).__name__
    return UnreadableImage(f"the RAW data is damaged ({text})")
