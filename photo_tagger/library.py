"""What a library's own labeled photos say about the apertures of its manual-lens photos.

A manual lens leaves the body's records in place: exposure time, ISO, exposure
compensation, flash, the body and the time. Through the exposure equation
N^2 = t * 2^EV100 * ISO/100, the aperture follows from the scene's brightness (EV100), and
the library's photos with the full exposure triangle, whatever lens took them, measure it:

- time neighbours: photos by the same body taken close in time saw nearly the same light.
  Their scene EV100 is a measurement of this photo's, whose spread grows with the gap
  (SIGMA_0, SIGMA_PER_DOUBLING; the light of a session drifts, and the photographer walks
  indoors and out, which OUTLIER_SHARE keeps from turning into false certainty);
- habits: how this photographer sets this lens on this body, a prior that counts for more
  the more labeled photos show it (HABIT_PSEUDO_COUNT), and in which the photos of the same
  outing weigh most (SAME_OUTING_WEIGHT). Only a photo whose lens recorded its name has
  habits (a labeled photo checked with `scan --all`, a chip's made-up name): a manual lens
  is none of the labeled photos' lenses, and their apertures do not carry over to it.

The model's own FNumber distribution is the third measurement; `refine` multiplies the
three on the model's bins. Where the equation does not hold it steps aside: a photo whose
flash fired takes no neighbour evidence (the flash set its exposure), flash-lit neighbours
teach nothing about the light, and Manual mode widens the spread (the photographer need not
follow the meter).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from .camera import body_name
from .estimate import LensConstraint, constrain_fnumber, point_and_confidence  # the model's own rules
from .lensbook import LensBook
from .store import Store
from .tolerance import ONE_STOP

SIGMA_0 = 0.5  # EV: the same scene seconds apart (metering, recomposing)
SIGMA_PER_DOUBLING = 0.35  # EV more per doubling of the gap, counted in minutes
MAX_GAP_S = 3 * 3600  # past three hours the session's light says nothing more than habits
NEIGHBOURS = 5  # the nearest few: a burst of fifty says no more than its nearest frames
OUTLIER_SHARE = 0.15  # neighbours that saw other light (a step indoors), as a broad component
OUTLIER_SIGMA = 4.0  # EV: as wide as scenes vary
MANUAL_EXTRA = 0.5  # EV added to the spread in Manual mode, which need not follow the meter
HABIT_BANDWIDTH = 0.25  # log2 N: half a stop, the scatter of one photographer's "usual" stop
HABIT_PSEUDO_COUNT = 6.0  # labeled photos a flat prior is worth: few photos, weak habits
# The flat share the habits keep however many photos show them: a lens can be set to any
# stop on a new outing, and a chip may record a name the lens on the adapter is not. Without
# the floor, 200 labeled photos at f/8 alone put a photo at f/8 with confidence 0.96
# (written), and outvoted neighbours whose light said f/1.4; with it, habits alone stay below
# the default --min-confidence (0.79) and the light wins (docs/decisions.md).
HABIT_FLOOR = 0.25
# A labeled photo taken at the same moment counts this many times more in the habits than one
# from long ago, the extra fading by e every OUTING_S: the day's shoot, not the year's average.
# Measured in docs/decisions.md ("habits of the same outing"): 10-50 times and one to three
# days all did about as well.
SAME_OUTING_WEIGHT = 20.0
OUTING_S = 86400.0
OUTING_REACH_S = 10 * OUTING_S  # beyond it the extra weight is under a thousandth of a photo's
MODEL_WEIGHT = 0.25  # power on the model's distribution beside library evidence: on bodies unlike its
# training photos it is no better than a constant (docs/decisions.md), so it only breaks ties
MANUAL_PROGRAM = 1
FNUMBER_RANGE = (0.7, 64.0)  # implausible apertures are not habits (as `train` rejects them)


@dataclass(frozen=True)
class Exposure:
    """One labeled photo's light: when, the scene's EV100 as the meter saw it, the aperture."""

    path: str
    taken: float  # seconds on the body's clock
    ev: float
    fnumber: float
    flash: bool
    lens: str | None = None  # LensModel as recorded: habits are a lens's, not a body's


@dataclass(frozen=True)
class Evidence:
    """What the library says about one photo (None: nothing of that kind)."""

    ev_mean: float | None = None
    ev_sigma: float | None = None
    neighbours: int = 0
    nearest_gap_s: float | None = None
    # the body's labeled apertures, each smoothed over the model's bins and summed (habit_kernel)
    habit_counts: np.ndarray | None = None
    habit_photos: int = 0

    @property
    def empty(self) -> bool:
        return self.ev_mean is None and not self.habit_photos

    def describe(self) -> str:
        parts = ["model"]
        if self.ev_mean is not None:
            parts.append(f"{self.neighbours} neighbour{'s' * (self.neighbours != 1)} "
                         f"from {_gap_text(self.nearest_gap_s or 0.0)}")
        if self.habit_photos:
            parts.append(f"habits of {self.habit_photos} photo{'s' * (self.habit_photos != 1)}")
        return " + ".join(parts)


def _moment(text: str | None) -> datetime | None:
    """A DateTimeOriginal ('YYYY:MM:DD HH:MM:SS', or ISO) on the body's clock; None if unreadable."""
    if not text:
        return None
    cleaned = text.strip().replace("T", " ")
    if len(cleaned) >= 10 and cleaned[4] == ":" and cleaned[7] == ":":
        cleaned = cleaned[:4] + "-" + cleaned[5:7] + "-" + cleaned[8:]
    try:
        return datetime.fromisoformat(cleaned[:19])
    except ValueError:
        return None


def parse_taken(text: str | None) -> float | None:
    """Seconds on the body's clock, to measure gaps with; None if unreadable."""
    moment = _moment(text)
    return None if moment is None else (moment - datetime(1970, 1, 1)).total_seconds()


def iso_taken(text: str | None) -> str | None:
    """DateTimeOriginal as 'YYYY-MM-DDTHH:MM:SS' for the database (None if unreadable)."""
    moment = _moment(text)
    return None if moment is None else moment.isoformat(timespec="seconds")


def scene_ev(fnumber: Any, exposure_time: float, iso: float, bias: float | None, program: int | None) -> Any:
    """The scene's EV100 as the meter read it: the settings' EV plus the compensation the
    photographer dialled in (ignored in Manual mode, where it moves only the meter's needle).
    fnumber may be an array (every aperture on the model's bins)."""
    ev = np.log2(np.square(fnumber) / exposure_time) - math.log2(iso / 100.0)
    return ev + ((bias or 0.0) if program != MANUAL_PROGRAM else 0.0)


@dataclass(frozen=True)
class _Body:
    """One body's labeled photos as arrays in time order (photos without a time last)."""

    paths: tuple[str, ...]
    taken: np.ndarray
    ev: np.ndarray
    kernel: np.ndarray  # [bins, photos]: each photo's aperture smoothed over the bins
    habit_total: np.ndarray  # kernel summed over the photos: once per body, not per estimate
    flash: np.ndarray

    @classmethod
    def of(cls, found: list[Exposure], bins: np.ndarray) -> _Body:
        found = sorted(found, key=lambda e: (math.isnan(e.taken), e.taken))
        kernel = habit_kernel(bins, np.log2([e.fnumber for e in found]))
        return cls(tuple(e.path for e in found), np.asarray([e.taken for e in found]),
                   np.asarray([e.ev for e in found]), kernel, kernel.sum(1), np.asarray([e.flash for e in found], dtype=bool))


class Library:
    """The labeled photos of one database, by body, in time order."""

    def __init__(self, by_body: Mapping[str, list[Exposure]], bins: np.ndarray) -> None:
        self.bodies = {body: _Body.of(found, bins) for body, found in by_body.items() if found}
        self._index = {path: (name, i) for name, b in self.bodies.items() for i, path in enumerate(b.paths)}
        by_lens: dict[tuple[str, str], list[Exposure]] = defaultdict(list)
        for body, found in by_body.items():
            for exposure in found:
                if exposure.lens:
                    by_lens[(body, exposure.lens)].append(exposure)
        self.lenses = {key: _Body.of(found, bins) for key, found in by_lens.items()}
        self._lens_index = {path: (key, i) for key, b in self.lenses.items() for i, path in enumerate(b.paths)}

    @classmethod
    def from_rows(cls, rows: Iterable[Mapping[str, Any]], bins: np.ndarray) -> Library:
        """From the store's labeled rows (Store.labeled_exposures), for a model's FNumber bins."""
        by_body: dict[str, list[Exposure]] = defaultdict(list)
        for row in rows:
            n, t, iso = row["exif_fnumber"], row["exif_exposure_time"], row["exif_iso"]
            if not FNUMBER_RANGE[0] <= n <= FNUMBER_RANGE[1]:
                continue
            taken = parse_taken(row["taken_at"])
            ev = float(scene_ev(n, t, iso, row["exif_exposure_bias"], row["exif_exposure_program"]))
            by_body[body_name(row["camera_make"], row["camera_model"])].append(
                Exposure(row["path"], taken if taken is not None else math.nan, ev, n, bool(row["exif_flash_fired"]),
                         row.get("lens_model") or None))
        return cls(by_body, bins)

    def evidence(self, row: Mapping[str, Any]) -> Evidence:
        """The neighbours' light and the lens's habits for one photo's row. A labeled photo
        estimated to check the model (`scan --all`) is left out of its own evidence."""
        name = body_name(row["camera_make"], row["camera_model"])
        body = self.bodies.get(name)
        if body is None:
            return Evidence()
        where = self._index.get(row["path"])  # a labeled photo checked with scan --all
        own = where[1] if where is not None and where[0] == name else None
        taken = parse_taken(row["taken_at"])
        habits = self._lens_habits(row, name, taken)
        if row["exif_flash_fired"] or taken is None or not (row["exif_exposure_time"] and row["exif_iso"]):
            return Evidence(**habits)  # no light to measure, or none that the equation links to N
        lo, hi = np.searchsorted(body.taken, [taken - MAX_GAP_S, taken + MAX_GAP_S], side="right")
        window = [i for i in range(max(lo - 1, 0), hi) if i != own and not body.flash[i]
                  and abs(body.taken[i] - taken) <= MAX_GAP_S]
        if not window:
            return Evidence(**habits)
        gaps = np.abs(body.taken[window] - taken)
        nearest = np.argsort(gaps, kind="stable")[:NEIGHBOURS]
        gaps, evs = gaps[nearest], body.ev[window][nearest]
        sigmas = np.asarray([gap_sigma(g) for g in gaps])
        weights = 1.0 / sigmas**2
        mean = float((weights * evs).sum() / weights.sum())
        spread = float((weights * (evs - mean) ** 2).sum() / weights.sum())
        # neighbours of one moment are not independent measurements: never narrower than
        # the nearest one alone would be, less a quarter
        sigma = math.sqrt(max(0.75 * float(sigmas.min()), math.sqrt(1.0 / weights.sum())) ** 2 + spread)
        if row.get("exif_exposure_program") == MANUAL_PROGRAM:
            sigma += MANUAL_EXTRA
        return Evidence(mean, sigma, len(gaps), float(gaps[0]), **habits)

    def _lens_habits(self, row: Mapping[str, Any], body: str, taken: float | None) -> dict[str, Any]:
        """The habits of the photo's own lens on this body: only a photo whose lens recorded
        its name has them. A manual-lens photo's lens is not among the labeled photos' lenses,
        and other lenses' apertures mislead: with each portfolio lens held out in turn and the
        photographer's other lenses labeled, the body's habits took FNumber within one stop
        from 37% (light alone) to 22% at confidence 0.52 (docs/decisions.md)."""
        lens = row.get("lens_model")
        group = self.lenses.get((body, lens)) if lens else None
        if group is None:
            return {}
        where = self._lens_index.get(row["path"])
        own = where[1] if where is not None and where[0] == (body, lens) else None
        if own is not None and len(group.paths) == 1:
            return {}
        return {"habit_counts": self._habits(group, own, taken), "habit_photos": len(group.paths) - (own is not None)}

    @staticmethod
    def _habits(body: _Body, own: int | None, taken: float | None) -> np.ndarray:
        """The body's apertures smoothed over the bins, the photos of the same outing
        weighing more (SAME_OUTING_WEIGHT); as strong as the plain count of photos, so an
        outing changes where the habits point, not how sure they are."""
        counts = body.habit_total if own is None else body.habit_total - body.kernel[:, own]
        if taken is None:
            return counts
        lo, hi = np.searchsorted(body.taken, [taken - OUTING_REACH_S, taken + OUTING_REACH_S], side="right")
        near = np.asarray([i for i in range(max(lo - 1, 0), hi) if i != own
                           and abs(body.taken[i] - taken) <= OUTING_REACH_S], dtype=int)
        if not len(near):
            return counts
        extra = SAME_OUTING_WEIGHT * np.exp(-np.abs(body.taken[near] - taken) / OUTING_S)
        photos = counts.sum()
        weighted = counts + body.kernel[:, near] @ extra
        return weighted * photos / weighted.sum()


def gap_sigma(gap_s: float) -> float:
    """How far (EV) the light may have moved in gap_s seconds."""
    return SIGMA_0 + SIGMA_PER_DOUBLING * math.log2(1.0 + gap_s / 60.0)


def _gap_text(gap_s: float) -> str:
    if gap_s < 120:
        return f"{gap_s:.0f} s"
    if gap_s < 5400:
        return f"{gap_s / 60:.0f} min"
    return f"{gap_s / 3600:.1f} h"


def _gauss(x: np.ndarray, mean: float, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - mean) / sigma) ** 2) / sigma


def neighbour_likelihood(bins: np.ndarray, row: Mapping[str, Any], evidence: Evidence) -> np.ndarray:
    """How well each aperture on the bins agrees with the neighbours' light, given this
    photo's exposure time, ISO and compensation."""
    assert evidence.ev_mean is not None and evidence.ev_sigma is not None
    evs = scene_ev(bins, row["exif_exposure_time"], row["exif_iso"], row["exif_exposure_bias"],
                   row["exif_exposure_program"])
    return ((1.0 - OUTLIER_SHARE) * _gauss(evs, evidence.ev_mean, evidence.ev_sigma)
            + OUTLIER_SHARE * _gauss(evs, evidence.ev_mean, OUTLIER_SIGMA))


def habit_kernel(bins: np.ndarray, log2_fnumbers: np.ndarray) -> np.ndarray:
    """[bins, photos]: each labeled aperture spread over the bins by HABIT_BANDWIDTH (columns sum to 1)."""
    kernel = np.exp(-0.5 * ((np.log2(bins)[:, None] - log2_fnumbers[None, :]) / HABIT_BANDWIDTH) ** 2)
    return kernel / kernel.sum(0, keepdims=True)


def habit_prior(counts: np.ndarray, photos: int) -> np.ndarray:
    """The body's apertures as a smoothed histogram over the bins (summed habit_kernel
    columns), shrunk toward flat by HABIT_PSEUDO_COUNT: five photos at f/1.4 suggest, fifty
    insist, but never beyond HABIT_FLOOR."""
    flat = max(HABIT_PSEUDO_COUNT / (photos + HABIT_PSEUDO_COUNT), HABIT_FLOOR)
    return (1.0 - flat) * counts / max(float(counts.sum()), 1e-12) + flat / len(counts)


def posterior(bins: np.ndarray, model: np.ndarray, row: Mapping[str, Any], evidence: Evidence) -> np.ndarray:
    """The model's distribution weighed with the library's evidence (the product of the three)."""
    log_post = MODEL_WEIGHT * np.log(np.maximum(model, 1e-12))
    if evidence.habit_photos and evidence.habit_counts is not None:
        log_post += np.log(habit_prior(evidence.habit_counts, evidence.habit_photos))
    if evidence.ev_mean is not None:
        log_post += np.log(np.maximum(neighbour_likelihood(bins, row, evidence), 1e-300))
    post = np.exp(log_post - log_post.max())
    return post / post.sum()


def refine(bins: np.ndarray, model: np.ndarray, row: Mapping[str, Any], evidence: Evidence) -> tuple[float, float]:
    """(FNumber, confidence): the aperture whose one-stop window holds the most posterior
    mass, and that mass, the chance the true aperture is within a stop of it."""
    post = posterior(bins, model, row, evidence)
    value, mass = point_and_confidence(post[None, :], bins, ONE_STOP)
    return float(value[0]), float(mass[0])


def refine_on_lens(bins: np.ndarray, model: np.ndarray, row: Mapping[str, Any], evidence: Evidence,
                   lens: LensConstraint) -> tuple[float, float]:
    """refine() for a photo whose lens is known: the posterior moved onto the lens's own
    stops as the model's estimate was (estimate.constrain_fnumber: mass beyond its range to
    its nearest end), the stop whose one-stop window holds the most, and that mass. On a
    full-stop scale f/8's window and f/11's hold the same two stops: the likelier stop wins.
    A lens picked among candidates (row's lens_confidence) is right only if the lens is."""
    scale, probs = constrain_fnumber(posterior(bins, model, row, evidence), bins, lens)
    mass = np.asarray([probs[ONE_STOP.hits(value, scale)].sum() for value in scale])
    best = max(range(len(scale)), key=lambda i: (round(float(mass[i]), 9), probs[i]))
    picked = row.get("lens_confidence")
    return float(scale[best]), float(mass[best]) * (picked if picked is not None else 1.0)


def encode_probs(probs: np.ndarray) -> bytes:
    return np.asarray(probs, dtype="<f4").tobytes()


def decode_probs(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4").astype(np.float64)


def refine_library(store: Store, bins: np.ndarray) -> int:
    """Weigh every unwritten estimate in the store with its library's evidence; returns how
    many estimates the library moved or sharpened. Cheap: no pixels, no model run."""
    library = Library.from_rows(store.labeled_exposures(), bins)
    lenses = {lens.name: lens for lens in LensBook(store).lenses()}
    updates = []
    for row in store.refinable():
        model = decode_probs(row["model_fnumber_probs"])
        lens = lenses.get(row["lens_name"]) if row["lens_name"] else None
        if len(model) != len(bins) or (row["lens_name"] and lens is None):
            continue  # another model's bins, or a lens since removed: the next scan redoes the photo
        evidence = library.evidence(row)
        if evidence.empty:
            value, confidence, source = row["model_fnumber"], row["model_fnumber_confidence"], "model"
        else:
            value, confidence = (refine(bins, model, row, evidence) if lens is None
                                 else refine_on_lens(bins, model, row, evidence, lens.constraint(None)))
            value, confidence, source = round(value, 2), round(confidence, 4), evidence.describe()
        if (value, confidence, source) != (row["fnumber"], row["fnumber_confidence"], row["fnumber_source"]):
            updates.append((value, confidence, source, row["path"]))
    store.save_fnumbers(updates)
    return sum(1 for u in updates if u[2] != "model")
