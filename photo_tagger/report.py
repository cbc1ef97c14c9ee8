"""Summarise a database: counts, distributions, accuracy on photos that had EXIF.

`summarise` returns plain data (the JSON format); reporttext.py draws it for the terminal.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any


from .camera import body_name
from .library import FNUMBER_RANGE
from .tolerance import ONE_STOP, WITHIN_20_PERCENT
from .store import Store
from .writeback import selected
from .xmp import FNUMBER, FOCAL_LENGTH, LENS_MODEL, VALUE_FNUMBER, VALUE_FOCAL, VALUE_LENS, XMP_TWINS

FNUMBER_EDGES = (1.4, 2.0, 2.8, 4.0, 5.6, 8.0, 11.0, 16.0)
FOCAL35_EDGES = (18, 24, 35, 50, 85, 135, 200, 400)
CONFIDENCE_EDGES = (0.2, 0.4, 0.6, 0.8)


def _bin_label(value: float, edges: tuple[float, ...], fmt: str) -> str:
    for lo, hi in zip((None, *edges), (*edges, None)):
        if hi is None or value < hi:
            if lo is None:
                return f"< {fmt.format(hi)}"
            return f">= {fmt.format(lo)}" if hi is None else f"{fmt.format(lo)}-{fmt.format(hi)}"
    return "?"


def _bin_order(edges: tuple[float, ...], fmt: str) -> list[str]:
    """Every bin's label, lowest first."""
    return [_bin_label(e - 1e-9, edges, fmt) for e in edges] + [_bin_label(edges[-1], edges, fmt)]


def _ordered(counts: Counter[str], edges: tuple[float, ...], fmt: str) -> dict[str, int]:
    """A histogram's non-empty bins, lowest first."""
    return {label: counts[label] for label in _bin_order(edges, fmt) if counts[label]}


HISTOGRAMS = {  # summary key: (row column, bin edges, label format)
    "fnumber": ("fnumber", FNUMBER_EDGES, "f/{:g}"),
    "focal_length_35mm": ("focal_length_35mm", FOCAL35_EDGES, "{:g} mm"),
    "fnumber_confidence": ("fnumber_confidence", CONFIDENCE_EDGES, "{:.1f}"),
    "focal_length_confidence": ("focal_length_confidence", CONFIDENCE_EDGES, "{:.1f}"),
}


def _true_focal35(row: dict[str, Any]) -> float | None:
    if row["exif_focal_length_35mm"]:
        return float(row["exif_focal_length_35mm"])
    if row["exif_focal_length"] and row["crop_factor"]:
        return float(row["exif_focal_length"] * row["crop_factor"])
    return None


class _Reliability:
    """Confidence bins against how often the estimates in them were right: whether a
    confidence of 0.8 comes true 8 times in 10 on this library's own labeled photos."""

    def __init__(self) -> None:
        self.bins: dict[str, list[float]] = {}  # label: [photos, confidence sum, right]

    def add(self, confidence: float | None, right: bool) -> None:
        if confidence is None:
            return
        row = self.bins.setdefault(_bin_label(confidence, CONFIDENCE_EDGES, "{:.1f}"), [0, 0.0, 0])
        row[0] += 1
        row[1] += confidence
        row[2] += right

    def result(self) -> list[dict[str, Any]]:
        return [{"confidence": label, "photos": int(n), "mean_confidence": round(c / n, 3), "right": round(k / n, 3)}
                for label in _bin_order(CONFIDENCE_EDGES, "{:.1f}") if label in self.bins
                for n, c, k in [self.bins[label]]]


class _Accuracy:
    """Model vs EXIF on photos that had lens EXIF and were predicted too (`scan --all`).
    Implausible EXIF (f/0.2, as `train` rejects it) is no truth to score against."""

    def __init__(self) -> None:
        self.n = self.within_stop = self.focal_n = self.within_20 = 0
        self.f_err = self.l_err = 0.0
        self.f_reliability, self.l_reliability = _Reliability(), _Reliability()

    def add(self, r: dict[str, Any]) -> None:
        if not (r["status"] == "has_exif" and r["fnumber"] and r["exif_fnumber"]
                and FNUMBER_RANGE[0] <= r["exif_fnumber"] <= FNUMBER_RANGE[1]):
            return
        self.n += 1
        self.f_err += abs(r["fnumber"] - r["exif_fnumber"]) / r["exif_fnumber"]
        right = bool(ONE_STOP.hits(r["fnumber"], r["exif_fnumber"]))
        self.within_stop += right
        self.f_reliability.add(r["fnumber_confidence"], right)
        true = _true_focal35(r)
        if r["focal_length_35mm"] and true:
            error = abs(r["focal_length_35mm"] - true) / true
            self.focal_n += 1
            self.l_err += error
            right = bool(WITHIN_20_PERCENT.hits(r["focal_length_35mm"], true))
            self.within_20 += right
            self.l_reliability.add(r["focal_length_confidence"], right)

    def result(self) -> dict[str, Any] | None:
        if not self.n:
            return None
        focal = self.focal_n or None
        return {
            "photos": self.n,
            "fnumber_mape": round(100 * self.f_err / self.n, 1),
            "fnumber_within_one_stop": round(self.within_stop / self.n, 3),
            "focal35_photos": self.focal_n,
            "focal35_mape": round(100 * self.l_err / focal, 1) if focal else None,
            "focal35_within_20pct": round(self.within_20 / focal, 3) if focal else None,
            "fnumber_reliability": self.f_reliability.result(),
            "focal35_reliability": self.l_reliability.result(),
        }


class _Tally:
    """Running counts over streamed rows: memory grows with distinct values, not with photos
    (a 200,000-photo library must not be loaded to be summarised)."""

    def __init__(self) -> None:
        self.photos = 0
        self.status: Counter[str] = Counter()
        self.cameras: Counter[str] = Counter()
        self.models: Counter[str] = Counter()
        self.providers: Counter[str] = Counter()
        self.bins: dict[str, Counter[str]] = {key: Counter() for key in HISTOGRAMS}
        self.lenses: dict[str, list[float]] = {}  # name: [photos, FNumber conf sum, focal conf sum]
        self.accuracy = _Accuracy()
        self.not_photos: Counter[str] = Counter()  # why, for the files left alone (provenance.py)
        self.failed: list[dict[str, str]] = []  # every file that could not be read: named, not counted
        self.pairs = 0  # RAW+JPEG pairs: two files, one shot (pairs.py)
        self.written = 0
        self.notes: Counter[str] = Counter()  # why predictions were not written (write_note)

    def add(self, r: dict[str, Any]) -> None:
        self.photos += 1
        self.status[r["status"]] += 1
        self.pairs += bool(r.get("shot_of"))
        self.written += bool(r.get("written"))
        if r["status"] == "predicted" and not r.get("written") and r.get("write_note"):
            self.notes[r["write_note"]] += 1
        if r["status"] == "error":
            self.failed.append({"path": r["path"], "error": r["error"] or ""})
        if r.get("not_photo"):
            self.not_photos[r["not_photo"] if r["status"] == "not_photo" else INCLUDED] += 1
        if r["status"] in ("has_exif", "predicted"):
            self.cameras[body_name(r["camera_make"], r["camera_model"])] += 1
        self.accuracy.add(r)
        if r["fnumber"] is None:
            return
        for key, (column, edges, fmt) in HISTOGRAMS.items():
            self.bins[key][_bin_label(r[column], edges, fmt)] += 1
        self.models[r["model_version"]] += 1
        self.providers[r["provider"]] += 1
        lens = self.lenses.setdefault(r.get("lens_name") or "(no known lens)", [0, 0.0, 0.0])
        lens[0] += 1
        lens[1] += r["fnumber_confidence"] or 0.0
        lens[2] += r["focal_length_confidence"] or 0.0

    def writes(self, paths: Sequence[str]) -> dict[str, Any]:
        """For a report limited to paths, what was written of those photos (store.write_counts
        counts the whole library)."""
        return {"written": self.written, "not_written": dict(self.notes.most_common())} if paths else {}

    def by_lens(self) -> dict[str, dict[str, Any]]:
        """Predictions per known lens (see `phototag lens`): counts and mean confidences."""
        return {
            name: {"photos": int(n), "fnumber_confidence": round(f / n, 3), "focal_length_confidence": round(l / n, 3)}
            for name, (n, f, l) in sorted(self.lenses.items(), key=lambda kv: -kv[1][0])
        }


INCLUDED = "estimated anyway (scan --include-non-photos)"

WRITTEN_VALUES = {VALUE_FNUMBER: FNUMBER, VALUE_FOCAL: FOCAL_LENGTH, VALUE_LENS: LENS_MODEL}


def values_written(store: Store, paths: Sequence[str] = ()) -> dict[str, int]:
    """Per value, the photos whose files (or sidecars) now carry phototag's estimate of it:
    a photo counted as written may hold its FNumber and not its focal length."""
    photos: dict[str, set[str]] = {name: set() for name in WRITTEN_VALUES}
    for path, tags in store.active_write_tags():
        if not selected(path, paths):
            continue
        for name, key in WRITTEN_VALUES.items():
            if tags["exif"].get(key) is not None or tags["xmp"].get(XMP_TWINS[key]) is not None:
                photos[name].add(path)
    return {name: len(paths) for name, paths in photos.items()}


def under(rows: Iterable[dict[str, Any]], paths: Sequence[str]) -> Iterator[dict[str, Any]]:
    """The rows of photos at or under one of paths (all when none is given), as `write` picks them."""
    return (row for row in rows if selected(row["path"], paths))


def summarise(store: Store, paths: Sequence[str] = ()) -> dict[str, Any]:
    """The report's data, in one streamed pass over the photos (those under paths, if given)."""
    tally = _Tally()
    for row in under(store.rows(), paths):
        tally.add(row)
    runs = store.runs()
    last = runs[-1] if runs else {}
    return {
        "database": str(store.path),
        "photos": tally.photos,
        "files": tally.photos,
        "shots": tally.photos - tally.pairs,  # a RAW+JPEG pair is one shot, estimated once
        "raw_jpeg_pairs": tally.pairs,
        "by_status": dict(tally.status),
        "not_photos": dict(tally.not_photos.most_common()),
        **{key: _ordered(tally.bins[key], edges, fmt) for key, (_, edges, fmt) in HISTOGRAMS.items()},
        "accuracy_on_exif_photos": tally.accuracy.result(),
        "cameras": dict(tally.cameras.most_common()),  # every body: the terminal cuts, saying so
        "failed": tally.failed,
        "lenses": tally.by_lens(),
        "model_versions": dict(tally.models),
        "providers": dict(tally.providers),
        "last_run": {k: last.get(k) for k in ("id", "started_at", "finished_at", "model_version", "provider")},
        "writes": {**store.write_counts(), **tally.writes(paths), "values": values_written(store, paths)},
    }
