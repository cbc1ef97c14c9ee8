"""Whether a file is a camera photo at all: AI images, renders and screenshots are not.

An aperture and focal length stamped on a picture no lens took is a lie in the file, so
the scan marks such files (status 'not_photo', with the reason) and never estimates or
writes them. The rules, each on what the file itself declares, first match wins:

1. IPTC DigitalSourceType (XMP Iptc4xmpExt) names a generated or captured-screen source.
2. A C2PA manifest (Content Credentials) has an action whose digitalSourceType is one of
   those: what Adobe Firefly, DALL-E, Bing Image Creator and Google's tools write. The claim is
   read, not trusted: its signer vouching for "AI" is enough to leave the file alone.
3. No camera Make/Model, and a Software tag (EXIF, or a PNG text chunk) that names an image
   generator or a screenshot tool from the short lists below.
4. A PNG without camera Make/Model: cameras do not write PNG, so it is a screenshot, a
   render or an export that lost its EXIF, and without a body there is nothing to
   estimate a lens from. A PNG that carries the camera's EXIF is scanned as a photo.

A plain JPEG without any EXIF stays a photo: a film scan or a stripped export is exactly
what a manual-lens photographer brings.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator

from .containers import PNG_SIGNATURE, png_chunks
from .metadata import PhotoMetadata

# IPTC NewsCodes digital source types that are not a camera's capture, with the words a
# user reads (https://cv.iptc.org/newscodes/digitalsourcetype/)
NOT_CAPTURED = {
    "trainedAlgorithmicMedia": "AI-generated",
    "compositeWithTrainedAlgorithmicMedia": "a composite with AI-generated parts",
    "algorithmicMedia": "computer-generated",
    "compositeSynthetic": "a synthetic composite",
    "screenCapture": "a screen capture",
}

# Software values (matched case-insensitively, as substrings) of image generators and of
# screenshot tools. Short on purpose: a name here must never be a photo editor's.
GENERATORS = ("Adobe Firefly", "DALL-E", "DALL·E", "Midjourney", "Stable Diffusion", "ComfyUI")
SCREENSHOT_TOOLS = ("Screenshot", "Snipping Tool", "Greenshot", "Flameshot", "Spectacle", "scrot", "ShareX")
# "Screenshot" covers gnome-screenshot, macOS Screenshot and KDE's and Xfce's tools.

C2PA_MARK = b"c2pa"  # the JUMBF manifest store's label: no mark, no manifest to read
PNG_TEXT_LIMIT = 64 * 1024  # a Software value is a few bytes; a bigger chunk is something else


def not_photo_reason(meta: PhotoMetadata, data: bytes, path: str) -> str | None:
    """Why the file is not a camera photo, in a user's words; None when it may be one.

    data: the bytes the scan read (a JPEG's head, else the whole file); path: for the C2PA
    reader, which reads the file itself.
    """
    source = source_type_reason(meta.source_type)
    if source:
        return f"its IPTC DigitalSourceType says {source}"
    claimed = c2pa_reason(data, path)
    if claimed:
        return f"its C2PA Content Credentials say {claimed}"
    if meta.make or meta.model:
        return None
    is_png = data.startswith(PNG_SIGNATURE)
    software = meta.software or (png_text(data).get("Software") if is_png else None)
    tool = software_kind(software)
    if tool:
        return f"no camera Make/Model, and its Software is {tool}"
    if is_png:
        return "a PNG without camera EXIF (a screenshot, render or export: no body to estimate a lens for)"
    return None


def source_type_reason(value: str | None) -> str | None:
    """The words for a DigitalSourceType URI (or bare term) that is no camera capture."""
    if not value:
        return None
    term = value.strip().rstrip("/").rsplit("/", 1)[-1]
    words = NOT_CAPTURED.get(term)
    return f"{words} ({term})" if words else None


def software_kind(software: str | None) -> str | None:
    """'an image generator (Midjourney)' or 'a screenshot tool (...)', from the lists above."""
    if not software:
        return None
    text = software.casefold()
    for kind, names in (("an image generator", GENERATORS), ("a screenshot tool", SCREENSHOT_TOOLS)):
        for name in names:
            if name.casefold() in text:
                return f"{kind} ({name})"
    return None


def c2pa_reason(data: bytes, path: str) -> str | None:
    """The generative source a C2PA manifest in the file declares, or None."""
    store = manifest_store(data, path)
    return manifest_reason(store) if store else None


def has_credentials(data: bytes, path: str) -> bool:
    """Whether the file carries C2PA Content Credentials: any edit of its bytes breaks their
    signature, so phototag writes beside such a file, never into it."""
    store = manifest_store(data, path)
    return bool(store and store.get("manifests"))


def manifest_store(data: bytes, path: str) -> dict | None:
    """The file's C2PA manifest store as the reader gives it, or None.

    Only files with the manifest store's mark are handed to the reader. A manifest the
    reader cannot parse is no verdict: the file stays a photo, as it would without one.
    """
    if C2PA_MARK not in data:
        return None
    import c2pa

    try:
        with c2pa.Reader(path) as reader:
            return json.loads(reader.json())
    except (c2pa.C2paError, OSError, ValueError):
        return None


def manifest_reason(store: dict) -> str | None:
    """The first generative digitalSourceType in any manifest's actions (c2pa.actions or
    c2pa.actions.v2): an AI ingredient earlier in the history makes the result AI too."""
    for manifest in (store.get("manifests") or {}).values():
        for action in _actions(manifest):
            words = source_type_reason(str(action.get("digitalSourceType") or ""))
            if words:
                return f"{action.get('action', 'an action')} as {words}"
    return None


def _actions(manifest: dict) -> Iterator[dict]:
    for assertion in manifest.get("assertions") or ():
        if str(assertion.get("label", "")).split("__")[0] in ("c2pa.actions", "c2pa.actions.v2"):
            yield from (a for a in (assertion.get("data") or {}).get("actions") or () if isinstance(a, dict))


def png_text(data: bytes) -> dict[str, str]:
    """A PNG's tEXt, zTXt and iTXt chunks, as keyword: text (exiv2
    reads only its own keys from them; screenshot tools write 'Software')."""
    found: dict[str, str] = {}
    for kind, body in png_chunks(data):
        if kind not in (b"tEXt", b"zTXt", b"iTXt") or len(body) > PNG_TEXT_LIMIT:
            continue
        keyword, _, rest = body.partition(b"\x00")
        try:
            found[keyword.decode("latin-1")] = _png_text_value(kind, rest)
        except (ValueError, IndexError, zlib.error):
            continue  # one damaged chunk hides nothing else
    return found


def _png_text_value(kind: bytes, rest: bytes) -> str:
    if kind == b"tEXt":
        return rest.decode("latin-1")
    if kind == b"zTXt":
        return _inflate(rest[1:]).decode("latin-1")
    compressed, tail = rest[0], rest[2:]  # rest[1]: the compression method, always zlib
    _language, _, tail = tail.partition(b"\x00")
    _translated, _, text = tail.partition(b"\x00")
    return (_inflate(text) if compressed else text).decode("utf-8")


def _inflate(compressed: bytes) -> bytes:
    """At most PNG_TEXT_LIMIT bytes of a compressed text: a tiny chunk may not expand to megabytes."""
    return zlib.decompressobj().decompress(compressed, PNG_TEXT_LIMIT)
