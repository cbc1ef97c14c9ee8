"""Known lenses: records, the lensfun database, and which lens took which photo (storage: lensbook.py).

A user names the manual lenses they own (from lensfun, or typed in), and says where they
used them: for one scan (`scan --lens`), by rules that persist (folder, camera, dates), or
through the lens name a body records for its manual-lens list (Exif.Photo.LensModel).
The `LensResolver` answers, for each photo, which lens (or lenses) may have taken it;
`estimate.LensConstraint` is what that means to the model.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from . import lenssearch
from .camera import body_name, fixed_lens, resolve_crop_factor
from .errors import PhototagError
from .estimate import STOP_SCALES, LensConstraint
from .metadata import PhotoMetadata

STOPS = tuple(STOP_SCALES)  # full, half, third
_PLAUSIBLE_FOCAL = (1.0, 5000.0)
_PLAUSIBLE_APERTURE = (0.5, 128.0)


class LensError(PhototagError):
    """A lens cannot be added, found or assigned as asked."""


class UnknownLens(LensError):
    """No known lens has this name; the message suggests near matches."""

    def __init__(self, name: str, suggestions: Sequence[str], lensfun: Sequence[str] = ()) -> None:
        self.name, self.suggestions = name, list(suggestions)
        message = f"no lens named {name!r} is known"
        if suggestions:
            message += "; did you mean " + " or ".join(repr(s) for s in suggestions) + "?"
        elif lensfun:
            message += (f"; lensfun has {', '.join(repr(s) for s in lensfun)}: "
                        "add it first with `phototag lens add NAME`")
        else:
            message += "; add it with `phototag lens add NAME` (see `phototag lens list`)"
        super().__init__(message)


@dataclass(frozen=True)
class Lens:
    """A lens: focal range in mm, FNumber range from widest to smallest, stop scale, mount."""

    name: str
    focal_min: float
    focal_max: float
    aperture_min: float | None = None  # the widest aperture, e.g. 2.0 for an f/2 lens
    aperture_max: float | None = None  # the smallest, e.g. 16
    stops: str = "full"
    mount: str | None = None
    maker: str | None = None
    source: str = "custom"  # custom or lensfun
    # On an adapter with a focus-confirm chip: its photos carry lens EXIF the chip made up
    # (a programmed focal length, the aperture on the camera's dial), so rules place them too.
    chipped: bool = False

    @property
    def is_prime(self) -> bool:
        return self.focal_min == self.focal_max

    def describe(self) -> str:
        """'58 mm f/2-16, full stops, M42'."""
        focal = f"{self.focal_min:g} mm" if self.is_prime else f"{self.focal_min:g}-{self.focal_max:g} mm"
        if self.aperture_min and self.aperture_max:
            aperture = f" f/{self.aperture_min:g}-{self.aperture_max:g}"
        elif self.aperture_min:
            aperture = f" f/{self.aperture_min:g}"
        else:
            aperture = ""
        mount = f", {self.mount}" if self.mount else ""
        chip = ", chipped adapter" if self.chipped else ""
        return f"{focal}{aperture}, {self.stops} stops{mount}{chip}"

    def constraint(self, crop_factor: float | None) -> LensConstraint:
        """What this lens means to the model, whose focal lengths are 35 mm-equivalent."""
        scale = crop_factor if crop_factor else None
        return LensConstraint(
            focal_min=self.focal_min * scale if scale else None,
            focal_max=self.focal_max * scale if scale else None,
            aperture_min=self.aperture_min,
            aperture_max=self.aperture_max,
            stops=self.stops,
        )


@dataclass(frozen=True)
class LensRule:
    """Photos matching every condition given here were taken with lens_name."""

    id: int
    lens_name: str
    folder: str | None = None  # a folder or glob, absolute
    camera: str | None = None  # a body's model (case-insensitive; globs allowed)
    date_from: str | None = None  # YYYY-MM-DD, inclusive
    date_to: str | None = None

    def describe(self) -> str:
        parts = []
        if self.folder:
            parts.append(f"folder {self.folder}")
        if self.camera:
            parts.append(f"camera {self.camera}")
        if self.date_from or self.date_to:
            parts.append(f"dates {self.date_from or '...'} to {self.date_to or '...'}")
        return ", ".join(parts)

    def matches(self, path: str, meta: PhotoMetadata) -> bool:
        if self.folder and not _folder_matches(self.folder, path):
            return False
        if self.camera and not _camera_matches(self.camera, meta):
            return False
        if self.date_from or self.date_to:
            day = _day(meta.date_taken)
            if day is None or (self.date_from and day < self.date_from) or (self.date_to and day > self.date_to):
                return False
        return True


def _folder_matches(pattern: str, path: str) -> bool:
    """True when the file, or a folder it lies in, matches the folder or glob."""
    here = os.path.abspath(path)
    while True:
        if fnmatch.fnmatch(here, pattern):
            return True
        parent = os.path.dirname(here)
        if parent == here:
            return False
        here = parent


def _camera_matches(pattern: str, meta: PhotoMetadata) -> bool:
    wanted = pattern.casefold().strip()
    names = [n.casefold() for n in (meta.model, " ".join(filter(None, (meta.make, meta.model)))) if n]
    return any(n == wanted or fnmatch.fnmatchcase(n, wanted) for n in names)


def _day(date_taken: str | None) -> str | None:
    """'2021:05:03 10:00:00' -> '2021-05-03'."""
    if not date_taken:
        return None
    match = re.match(r"(\d{4})[:-](\d{2})[:-](\d{2})", date_taken)
    return "-".join(match.groups()) if match else None


def name_key(text: str) -> str:
    """Lowercase letters, digits and dots only: 'Helios-44 58mm' ~ 'helios 44 58 mm'."""
    return re.sub(r"[^a-z0-9.]", "", text.casefold())


# --- parsing what users type ----------------------------------------------------------


def parse_range(text: str, what: str, plausible: tuple[float, float]) -> tuple[float, float]:
    """'58' -> (58, 58); '28-70' -> (28, 70); 'f/2-16' -> (2, 16)."""
    cleaned = text.strip().lower().replace("mm", "").replace("f/", "").replace(" ", "")
    parts = cleaned.split("-")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise LensError(f"{what} {text!r} is not a number or a range like 28-70") from None
    if len(values) not in (1, 2):
        raise LensError(f"{what} {text!r} is not a number or a range like 28-70")
    lo, hi = values[0], values[-1]
    if not (plausible[0] <= lo <= hi <= plausible[1]):
        raise LensError(f"{what} {text!r} is out of order or implausible")
    return lo, hi


def custom_lens(name: str, focal: str, aperture: str | None, stops: str = "full",
                mount: str | None = None, maker: str | None = None) -> Lens:
    """A lens the user describes: --focal 58 or 28-70, --aperture 2-16 (or just 2)."""
    if not name.strip():
        raise LensError("a lens needs a name")
    if stops not in STOPS:
        raise LensError(f"stops must be one of {', '.join(STOPS)}")
    f_lo, f_hi = parse_range(focal, "focal length", _PLAUSIBLE_FOCAL)
    a_lo: float | None = None
    a_hi: float | None = None
    if aperture:
        a_lo, a_hi = parse_range(aperture, "aperture", _PLAUSIBLE_APERTURE)
        if a_lo == a_hi and "-" not in aperture:
            a_hi = None  # only the widest aperture was given
    return Lens(name.strip(), f_lo, f_hi, a_lo, a_hi, stops, mount, maker, "custom")


# --- lensfun ----------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def lensfun_lenses() -> tuple[Lens, ...]:
    """Every lens in the lensfun database that ships with lensfunpy, once per name."""
    from .camera import _lensfun_db

    seen: dict[str, Lens] = {}
    for raw in _lensfun_db().lenses:
        if not raw.min_focal or raw.min_focal <= 0:
            continue
        maker, model = (raw.maker or "").strip(), (raw.model or "").strip()
        name = model if not maker or model.casefold().startswith(maker.casefold()) else f"{maker} {model}"
        if name in seen:
            continue
        seen[name] = Lens(
            name=name,
            focal_min=float(raw.min_focal),
            focal_max=float(raw.max_focal or raw.min_focal),
            aperture_min=float(raw.min_aperture) if raw.min_aperture and raw.min_aperture > 0 else None,
            aperture_max=float(raw.max_aperture) if raw.max_aperture and raw.max_aperture > 0 else None,
            mount=", ".join(raw.mounts or []) or None,
            maker=maker or None,
            source="lensfun",
        )
    return tuple(sorted(seen.values(), key=lambda lens: lens.name.casefold()))


def search_lensfun(text: str, limit: int | None = None) -> list[Lens]:
    """Lenses whose name has every word of text, as typed ('Helios 44-2', 'jupiter-9'), best
    first: whole words before parts of words (lenssearch.py)."""
    known = lensfun_lenses()
    found = [known[i] for i in lenssearch.rank(text, [lens.name for lens in known])]
    return found[:limit] if limit else found


def near_lensfun(text: str, n: int = 5) -> list[Lens]:
    """The lenses closest to text when none has all its words: the most words shared."""
    known = lensfun_lenses()
    return [known[i] for i in lenssearch.near(text, [lens.name for lens in known], n)]


def pick_lensfun(text: str) -> Lens:
    """The one lensfun lens text names: an exact name, the only match, or the only prefix match."""
    found = search_lensfun(text)
    if not found:
        near = [lens.name for lens in near_lensfun(text, 3)]
        hint = f"; did you mean {' or '.join(repr(n) for n in near)}?" if near else \
            "; describe it yourself with --focal and --aperture"
        raise LensError(f"lensfun has no lens matching {text!r}{hint}")
    wanted = name_key(text)
    for rule in (lambda k: k == wanted, lambda k: k.startswith(wanted)):
        hits = [lens for lens in found if rule(name_key(lens.name)) or rule(name_key(_without_maker(lens)))]
        if len(hits) == 1:
            return hits[0]
    if len(found) == 1:
        return found[0]
    names = ", ".join(repr(lens.name) for lens in found[:8])
    more = f" and {len(found) - 8} more" if len(found) > 8 else ""
    raise LensError(f"{len(found)} lensfun lenses match {text!r}: {names}{more}; give the full name")


def _without_maker(lens: Lens) -> str:
    if lens.maker and lens.name.casefold().startswith(lens.maker.casefold()):
        return lens.name[len(lens.maker):].strip()
    return lens.name


@dataclass(frozen=True)
class Resolution:
    """The lenses that may have taken a photo (several: the model picks) and how we know."""

    lenses: tuple[Lens, ...] = ()
    source: str | None = None  # scan, exif or rule
    # a body with a built-in lens that --lens or a rule named a lens for: 'Apple iPhone 7 (a phone)'
    fixed_body: str | None = None

    def constraints(self, crop_factor: float | None) -> tuple[LensConstraint, ...]:
        return tuple(lens.constraint(crop_factor) for lens in self.lenses)


NO_LENS = Resolution()


@dataclass(frozen=True)
class LensResolver:
    """A stage of the scan: metadata and the user's lens facts in, candidate lenses out.

    In order of trust: the scan's --lens; the LensModel the body recorded, where it names a
    known lens; the rules that match the photo (all of them: several lenses are candidates).
    """

    lenses: tuple[Lens, ...] = ()
    rules: tuple[LensRule, ...] = ()
    forced: Lens | None = None
    crops: dict[str, float] = field(default_factory=dict)

    def resolve(self, path: str, meta: PhotoMetadata | None) -> Resolution:
        """A photo with lens EXIF was taken with an electronic lens, unless that EXIF names
        one of the user's lenses or a chipped lens's rule (or --lens) places it: only a
        chip makes up lens EXIF for a manual lens."""
        if meta is None:
            return NO_LENS if self.forced is None else Resolution((self.forced,), "scan")
        named = self.from_lens_model(meta.lens_model)
        declared = list(named) if named and self.forced is None else self._declared(path, meta)
        fixed = self.fixed_body(meta) if declared else None
        if fixed:  # a phone or a compact: no lens of the user's took it
            return Resolution(fixed_body=fixed)
        if named and self.forced is None:
            return Resolution(named, "exif")
        if meta.has_lens_exif and not named:  # lens EXIF that no lens of the user's explains
            declared = [lens for lens in declared if lens.chipped]
        source = "scan" if self.forced is not None else "rule"
        return Resolution(tuple(declared), source) if declared else NO_LENS

    def places_manual(self, path: str, meta: PhotoMetadata | None) -> bool:
        """Whether the user's lens facts put this photo on one of their manual lenses; for a
        photo with lens EXIF, whether that EXIF measured nothing: a chipped lens's rule or
        --lens places it (the chip reports a programmed focal length and the aperture on
        the camera's dial), or its LensModel names the lens (the body's manual-lens list
        records the registered aperture, not the one the ring was set to). Scan estimates
        such photos and train does not learn from them: one test, so the two agree."""
        return bool(self.resolve(path, meta).lenses)

    def passed_by(self, path: str, meta: PhotoMetadata) -> tuple[Lens, ...]:
        """For a photo kept as having lens EXIF (resolve placed it on no lens): the lenses
        --lens or a rule name for it all the same, none chipped. A forgotten --chipped
        looks like this, so scan says so."""
        return () if self.fixed_body(meta) else tuple(self._declared(path, meta))

    def fixed_body(self, meta: PhotoMetadata) -> str | None:
        """'Apple iPhone 7 (a phone)' when the photo's body has a built-in lens (camera.fixed_lens)."""
        why = fixed_lens(meta.make, meta.model, resolve_crop_factor(meta, overrides=self.crops))
        return f"{body_name(meta.make, meta.model)} ({why})" if why else None

    def _declared(self, path: str, meta: PhotoMetadata) -> list[Lens]:
        """The lenses --lens or the matching rules name for a photo, its EXIF aside."""
        if self.forced is not None:
            return [self.forced]
        by_name = {lens.name: lens for lens in self.lenses}
        matched: list[Lens] = []
        for rule in self.rules:
            lens = by_name.get(rule.lens_name)
            if lens is not None and lens not in matched and rule.matches(path, meta):
                matched.append(lens)
        return matched

    def from_lens_model(self, lens_model: str | None) -> tuple[Lens, ...]:
        """Known lenses named by Exif.Photo.LensModel: exact, else the longest contained name."""
        if not lens_model or not self.lenses:
            return ()
        said = name_key(lens_model)
        if len(said) < 3:
            return ()
        scored: list[tuple[int, Lens]] = []
        for lens in self.lenses:
            keys = {name_key(lens.name), name_key(_without_maker(lens))}
            if said in keys:
                return (lens,)
            hits = [len(k) for k in keys if len(k) >= 5 and (k in said or said in k)]
            if hits:
                scored.append((max(hits), lens))
        if not scored:
            return ()
        best = max(score for score, _ in scored)
        return tuple(lens for score, lens in scored if score == best)

    def fingerprint(self) -> str | None:
        """All the lens facts in one fingerprint, as earlier versions stored it beside every
        photo (each photo's own, from the facts that bear on it: lensprint.photo_setup)."""
        from .lensprint import legacy_setup

        return legacy_setup(self)


def lens_names(lenses: Iterable[Lens]) -> list[str]:
    return [lens.name for lens in lenses]
