"""One photo's record, gathered for `phototag show`: what the database knows of it, the
distribution behind its confidence, the lens facts that shaped it, and what was written.

Plain data only (showtext.py draws it); no pixels are read and no model is run. The
FNumber bins live in the model's spec, not in the database: they are read from the model
the photo's scan used, else the default model, else phototag's standard third-stop bins.
"""

from __future__ import annotations

import json
import math
import os
import shlex
from pathlib import Path
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .discover import display_path
from .errors import PhototagError
from .journal import real_path
from .lensbook import LensBook
from .lenses import LensRule
from .library import decode_probs
from .metadata import PhotoMetadata
from .modelspec import default_spec
from .registry import default_model
from .store import Store

# Nominal full-stop FNumbers by k, where N = sqrt(2) ** k: the numbers on aperture rings.
NOMINAL_STOPS = {-2: "0.5", -1: "0.7", 0: "1", 1: "1.4", 2: "2", 3: "2.8", 4: "4", 5: "5.6", 6: "8",
                 7: "11", 8: "16", 9: "22", 10: "32", 11: "45", 12: "64", 13: "90", 14: "128"}


@dataclass(frozen=True)
class StopGroup:
    """The model's probability that the aperture lies within half a stop of one full stop."""

    label: str  # "f/2.8"
    probability: float
    holds_estimate: bool  # the stored FNumber estimate falls in this group


@dataclass(frozen=True)
class Distribution:
    """The model's own FNumber distribution for one photo, and where its bins came from."""

    bins: tuple[float, ...]
    probs: tuple[float, ...]
    groups: tuple[StopGroup, ...]
    bins_from: str  # "the scan's model tiny.onnx", "the default model ...", "phototag's standard ..."


@dataclass(frozen=True)
class WriteEntry:
    """One write phototag made to the photo or its sidecar, and whether it is still in effect."""

    id: int
    run_id: int
    written_at: str
    method: str  # exif (into the file) or sidecar
    target: str
    tags: dict[str, Any]
    undone_at: str | None
    state: str = "done"  # pending or undoing: a run was killed mid-way (the next one settles it)

    @property
    def in_effect(self) -> bool:
        return self.state == "done" and self.undone_at is None


@dataclass(frozen=True)
class PhotoView:
    """Everything `show` says about one photo found in the database."""

    path: str
    row: dict[str, Any]  # the database row, blobs decoded (probabilities) or dropped (path bytes)
    distribution: Distribution | None
    distribution_note: str | None  # why there is no distribution to draw
    rules: tuple[LensRule, ...] = ()  # the lens rules that place this photo on its lens
    writes: tuple[WriteEntry, ...] = ()

    @property
    def in_effect(self) -> tuple[WriteEntry, ...]:
        return tuple(w for w in self.writes if w.in_effect)

    def undo_commands(self) -> list[str]:
        """The commands that take this photo's writes back, per photo and per run."""
        if not self.in_effect:
            return []
        runs = sorted({w.run_id for w in self.in_effect})
        return [f"phototag undo {_quoted(self.path)}"] + [f"phototag undo --run {run}" for run in runs]

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "found": True, "photo": self.row,
            "fnumber_distribution": asdict(self.distribution) if self.distribution else None,
            "distribution_note": self.distribution_note,
            "lens_rules": [asdict(rule) | {"describe": rule.describe()} for rule in self.rules],
            "writes": [asdict(w) | {"in_effect": w.in_effect} for w in self.writes],
            "undo": self.undo_commands(),
        }


@dataclass(frozen=True)
class Missing:
    """A path the database has no row for, and what to do about it."""

    path: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "found": False, "reason": self.reason}


@dataclass
class _BinSource:
    """FNumber bins per model file, read once per `show` however many photos share a model."""

    cache: dict[str, tuple[float, ...] | None] = field(default_factory=dict)

    def bins(self, store: Store, row: dict[str, Any], count: int) -> tuple[tuple[float, ...], str] | None:
        run = store.run(row["run_id"]) if row.get("run_id") else None
        candidates = []
        if run and run.get("model_path"):
            candidates.append((run["model_path"], f"the scan's model {os.path.basename(run['model_path'])}"))
        try:
            fallback = default_model().path
            candidates.append((str(fallback), f"the default model {fallback.name}"))
        except PhototagError:
            pass  # no model installed: the standard bins may still fit
        for path, said in candidates:
            bins = self._read(path)
            if bins is not None and len(bins) == count:
                return bins, said
        standard = default_spec("standard").fnumber_bins
        return (standard, "phototag's standard third-stop bins") if len(standard) == count else None

    def _read(self, model_path: str) -> tuple[float, ...] | None:
        if model_path not in self.cache:
            from .infer import Predictor  # onnxruntime only when a distribution is drawn

            try:
                self.cache[model_path] = Predictor(Path(model_path), "cpu").spec.fnumber_bins
            except PhototagError:
                self.cache[model_path] = None
        return self.cache[model_path]


def show(store: Store, paths: Sequence[str]) -> list[PhotoView | Missing]:
    """The record of each given photo, in the order given."""
    source = _BinSource()
    rules = LensBook(store).rules()
    found: list[PhotoView | Missing] = []
    for given in paths:
        row = _find(store, given)
        found.append(_missing(given) if row is None else _view(store, row, source, rules))
    return found


def _find(store: Store, given: str) -> dict[str, Any] | None:
    """The row stored for a path as typed: absolute, then with links resolved."""
    for form in (os.path.abspath(given), os.path.realpath(given)):
        row = store.photo(display_path(form))
        if row is not None:
            return row
    return None


def _missing(typed: str) -> Missing:
    given = display_path(typed)  # printable even when the name is not UTF-8
    if os.path.isdir(typed):
        return Missing(given, "a folder: show takes photo files (`phototag export` lists every photo)")
    if not os.path.exists(typed):
        return Missing(given, "no such file, and not in the database")
    return Missing(given, f"not in the database: scan it with `phototag scan {_quoted(given)}`")


def _view(store: Store, row: dict[str, Any], source: _BinSource, rules: list[LensRule]) -> PhotoView:
    blob = row.get("model_fnumber_probs")
    distribution, note = _distribution(store, row, source) if blob else (None, _no_distribution(row))
    clean = {k: v for k, v in row.items() if k != "path_bytes" and not isinstance(v, bytes)}
    clean["model_fnumber_probs"] = [float(p) for p in decode_probs(blob)] if blob else None
    return PhotoView(row["path"], clean, distribution, note, _rules_for(row, rules),
                     tuple(_write(w) for w in store.writes_to(row["path"])))


def _no_distribution(row: dict[str, Any]) -> str | None:
    if row["fnumber"] is None:
        return None  # nothing was estimated: nothing to explain
    if row.get("lens_name"):
        return "the lens's own stops shaped this estimate"
    return "scanned by an older phototag (`phototag scan --force` keeps it)"


def _distribution(store: Store, row: dict[str, Any], source: _BinSource) -> tuple[Distribution | None, str | None]:
    probs = decode_probs(row["model_fnumber_probs"])
    found = source.bins(store, row, len(probs))
    if found is None:
        return None, f"its {len(probs)} bins match no model phototag can read now"
    bins, said = found
    groups = stop_groups(np.asarray(bins), probs, row["fnumber"])
    return Distribution(tuple(bins), tuple(round(float(p), 6) for p in probs), groups, said), None


def stop_groups(bins: np.ndarray, probs: np.ndarray, estimate: float | None) -> tuple[StopGroup, ...]:
    """The distribution summed per full stop (each bin to its nearest), lowest first."""
    stops = np.rint(2 * np.log2(bins)).astype(int)
    chosen = None if not estimate or estimate <= 0 else int(round(2 * math.log2(estimate)))
    groups = []
    for k in range(int(stops.min()), int(stops.max()) + 1):
        label = NOMINAL_STOPS.get(k, f"{math.sqrt(2) ** k:.2g}")
        groups.append(StopGroup(f"f/{label}", round(float(probs[stops == k].sum()), 4), k == chosen))
    return tuple(groups)


def _rules_for(row: dict[str, Any], rules: list[LensRule]) -> tuple[LensRule, ...]:
    """The rules for the photo's lens that match it now (a rule changed since the scan may not)."""
    if row.get("lens_source") != "rule" or not row.get("lens_name"):
        return ()
    meta = PhotoMetadata(make=row["camera_make"], model=row["camera_model"], date_taken=row["taken_at"])
    return tuple(r for r in rules if r.lens_name == row["lens_name"] and r.matches(real_path(row), meta))


def _write(entry: dict[str, Any]) -> WriteEntry:
    try:
        tags = json.loads(entry["tags_after"] or "{}")
    except ValueError:
        tags = {}
    return WriteEntry(entry["id"], entry["run_id"], entry["written_at"], entry["method"],
                      display_path(entry["target"]) if entry["target"] else entry["path"], tags, entry["undone_at"],
                      entry["state"])


def _quoted(path: str) -> str:
    """A path as a shell would need it typed."""
    return shlex.quote(path)
