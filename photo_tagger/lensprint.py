"""Which of the user's lens facts bear on one photo, as the fingerprint (`lens_setup`) kept
beside its result: a rule added, changed or deleted redoes only the photos it matched
before or matches now, not the whole library.

A scan decides whether to redo a file before reading it, so the fingerprint is made from
what the database keeps of the photo (its path, body, date and LensModel): the same values
when the result is stored and when it is checked. Where a rule cannot be judged from them
(a date rule, a photo without a date) the rule counts as matching: a redo too many, never
one too few.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from .camera import from_user
from .library import iso_taken
from .lenses import Lens, LensResolver, LensRule
from .metadata import PhotoMetadata
from .store import Store


@dataclass(frozen=True)
class PhotoFacts:
    """What lens rules look at in a photo, as the database keeps it."""

    make: str | None = None
    model: str | None = None
    taken_at: str | None = None  # 'YYYY-MM-DDTHH:MM:SS', the photos.taken_at column
    lens_model: str | None = None

    @classmethod
    def of(cls, meta: PhotoMetadata) -> PhotoFacts:
        return cls(meta.make, meta.model, iso_taken(meta.date_taken), meta.lens_model)

    def meta(self) -> PhotoMetadata:
        return PhotoMetadata(make=self.make, model=self.model, date_taken=self.taken_at, lens_model=self.lens_model)


def photo_setup(resolver: LensResolver, path: str, facts: PhotoFacts) -> str | None:
    """The fingerprint of the lens facts that can apply to this photo: --lens, the lenses its
    LensModel names, the rules that match it with their lenses, its body's crop factor.
    None when none does, so a photo no fact touches keeps its result whatever changes."""
    meta = facts.meta()
    crop = from_user(meta, resolver.crops)
    bearing = {
        "forced": lens_facts(resolver.forced) if resolver.forced else None,
        "named": [lens_facts(lens) for lens in resolver.from_lens_model(facts.lens_model)],
        "ruled": _ruled(resolver, path, meta),
        "crop": crop.value if crop else None,
    }
    return _digest(bearing) if any(bearing.values()) else None


def _ruled(resolver: LensResolver, path: str, meta: PhotoMetadata) -> list[Any]:
    """The lenses the rules that (may) match the photo name, in the rules' order, as the
    resolver offers them; a rule whose lens is gone by its name. A rule changed but still
    placing the photo on the same lens changes nothing here."""
    by_name = {lens.name: lens for lens in resolver.lenses}
    ruled: list[Any] = []
    for rule in resolver.rules:
        lens = lens_facts(by_name[rule.lens_name]) if rule.lens_name in by_name else rule.lens_name
        if lens not in ruled and _may_match(rule, path, meta):
            ruled.append(lens)
    return ruled


def legacy_setup(resolver: LensResolver) -> str | None:
    """All the lens facts in one fingerprint, as versions before `photo_setup` stored it for
    every photo: a row that still holds it was made with today's facts."""
    if not (resolver.lenses or resolver.rules or resolver.forced or resolver.crops):
        return None
    return _digest({
        "lenses": [lens_facts(lens) for lens in resolver.lenses],
        "rules": [asdict(rule) | {"id": 0} for rule in resolver.rules],
        "forced": lens_facts(resolver.forced) if resolver.forced else None,
        "crops": resolver.crops,
    })


def lens_facts(lens: Lens) -> dict[str, Any]:
    """A lens as the fingerprint sees it: 'not chipped' left out, so lenses added before the
    chip existed keep their fingerprint and their photos are not re-estimated for nothing."""
    facts = asdict(lens)
    if not facts.pop("chipped"):
        return facts
    return facts | {"chipped": True}


def stored_facts(store: Store) -> dict[str, PhotoFacts]:
    """Every stored photo's facts by (display) path, read once per scan."""
    rows = store.db.execute("SELECT path, camera_make, camera_model, taken_at, lens_model FROM photos")
    return {row[0]: PhotoFacts(*row[1:]) for row in rows}


def relabel(store: Store, setups: Iterable[tuple[str, str | None]]) -> None:
    """Store today's fingerprint beside results kept from an older version, in one transaction."""
    pairs = [(setup, path) for path, setup in setups]
    if not pairs:
        return
    conn = store.db.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany("UPDATE photos SET lens_setup = ? WHERE path = ?", pairs)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _may_match(rule: LensRule, path: str, meta: PhotoMetadata) -> bool:
    """Whether the rule matches the photo, or might: a date rule over a photo of no known date."""
    if meta.date_taken is None and (rule.date_from or rule.date_to):
        rule = replace(rule, date_from=None, date_to=None)
    return rule.matches(path, meta)


def _digest(facts: Mapping[str, Any]) -> str:
    return hashlib.sha1(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]
