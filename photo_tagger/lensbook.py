"""The user's lens facts in the database: their lenses, the rules that say where each was
used, and crop factors set per camera. `LensBook.resolver` hands them to a scan as a
`lenses.LensResolver`, which knows nothing of storage."""

from __future__ import annotations

import difflib
import glob
import os
from dataclasses import asdict
from typing import Any

from .camera import fixed_lens_named
from .lenses import Lens, LensError, LensResolver, LensRule, UnknownLens, name_key, search_lensfun
from .store import Store, now


class LensBook:
    """The user's lenses, lens rules and camera crop factors, kept in the database."""

    def __init__(self, store: Store) -> None:
        self.db = store.db

    def lenses(self) -> list[Lens]:
        return [_lens_from_row(row) for row in self.db.query("SELECT * FROM lenses ORDER BY name COLLATE NOCASE")]

    def add(self, lens: Lens, replace: bool = False) -> Lens:
        existing = next((known for known in self.lenses() if name_key(known.name) == name_key(lens.name)), None)
        if existing and not replace:
            raise LensError(f"a lens named {existing.name!r} already exists ({existing.describe()}); "
                            "remove it first or use --replace")
        if existing:
            self.remove(existing.name, keep_rules=True)
        self.db["lenses"].insert({**asdict(lens), "added_at": now()})
        return lens

    def find(self, name: str) -> Lens | None:
        """The known lens with this name, ignoring case, spaces and punctuation; else the only
        known lens whose name contains it ('Helios-44' for 'KMZ Helios-44 58mm 1:2')."""
        wanted = name_key(name)
        lenses = self.lenses()
        for lens in lenses:
            if name_key(lens.name) == wanted:
                return lens
        within = [lens for lens in lenses if wanted and wanted in name_key(lens.name)]
        return within[0] if len(within) == 1 else None

    def get(self, name: str) -> Lens:
        """Like find, but an unknown name is an UnknownLens error that suggests near matches."""
        lens = self.find(name)
        if lens is not None:
            return lens
        names = [known.name for known in self.lenses()]
        by_key = {name_key(n): n for n in names}
        near = [by_key[k] for k in difflib.get_close_matches(name_key(name), list(by_key), n=3, cutoff=0.5)]
        near += [n for n in names if name_key(name) in name_key(n) and n not in near]
        lensfun = [] if near else [lens.name for lens in search_lensfun(name, limit=3)]
        raise UnknownLens(name, near[:3], lensfun)

    def remove(self, name: str, keep_rules: bool = False) -> tuple[Lens, int]:
        """Forget a lens and (unless keep_rules) the rules that name it; returns the rule count."""
        lens = self.get(name)
        self.db.execute("DELETE FROM lenses WHERE name = ?", [lens.name])
        dropped = 0
        if not keep_rules:
            dropped = self.db.execute("DELETE FROM lens_rules WHERE lens_name = ?", [lens.name]).rowcount
        return lens, dropped

    def set_chipped(self, name: str, chipped: bool) -> Lens:
        """Say whether a lens sits on an adapter whose chip writes lens EXIF; rules stay."""
        lens = self.get(name)
        self.db.execute("UPDATE lenses SET chipped = ? WHERE name = ?", [int(chipped), lens.name])
        return self.get(lens.name)

    def rules(self) -> list[LensRule]:
        return [LensRule(**{k: row[k] for k in ("id", "lens_name", "folder", "camera", "date_from", "date_to")})
                for row in self.db.query("SELECT * FROM lens_rules ORDER BY id")]

    def assign(self, name: str, folder: str | None = None, camera: str | None = None,
               date_from: str | None = None, date_to: str | None = None) -> LensRule:
        """A lasting rule: photos matching every given condition were taken with this lens."""
        if not (folder or camera or date_from or date_to):
            raise LensError("a rule needs at least one of --folder, --camera, --from or --to")
        if date_from and date_to and date_from > date_to:
            raise LensError(f"--from {date_from} is after --to {date_to}")
        lens = self.get(name)
        if folder:
            folder = os.path.abspath(os.path.expanduser(folder))
        row = {"lens_name": lens.name, "folder": folder, "camera": camera, "date_from": date_from,
               "date_to": date_to, "added_at": now()}
        rule_id = self.db["lens_rules"].insert(row).last_pk
        return LensRule(int(rule_id), lens.name, folder, camera, date_from, date_to)

    def unassign(self, rule_id: int) -> LensRule:
        rule = next((r for r in self.rules() if r.id == rule_id), None)
        if rule is None:
            raise LensError(f"there is no lens rule {rule_id} (see `phototag lens rules`)")
        self.db.execute("DELETE FROM lens_rules WHERE id = ?", [rule_id])
        return rule

    def set_crop(self, model: str, crop_factor: float) -> None:
        """The user's crop factor for a body; it wins over EXIF and lensfun."""
        if not 0.25 <= crop_factor <= 15.0:
            raise LensError(f"crop factor {crop_factor:g} is implausible (expected 0.25 to 15)")
        self.db["cameras"].upsert({"model": model.strip(), "crop_factor": crop_factor, "added_at": now()}, pk="model")

    def unset_crop(self, model: str) -> bool:
        return self.db.execute("DELETE FROM cameras WHERE model = ? COLLATE NOCASE", [model.strip()]).rowcount > 0

    def crops(self) -> dict[str, float]:
        """Users' crop factors by body model, as set (see camera.user_crop)."""
        return {row["model"]: row["crop_factor"] for row in self.db.query("SELECT * FROM cameras ORDER BY model")}

    def resolver(self, forced: str | None = None) -> LensResolver:
        """Everything a scan needs to know which lens took which photo, loaded once."""
        forced_lens = self.get(forced) if forced else None
        return LensResolver(tuple(self.lenses()), tuple(self.rules()), forced_lens, self.crops())


def rule_warnings(rule: LensRule) -> list[str]:
    """What may keep a rule from placing photos; it is kept all the same: a folder on a drive
    not mounted now exists later, and a --camera glob may match other bodies too."""
    warnings = []
    pattern = rule.folder and any(c in rule.folder for c in "*?[")
    if rule.folder and not (glob.glob(rule.folder) if pattern else os.path.exists(rule.folder)):
        warnings.append(f"folder {rule.folder} does not exist (an unmounted drive?): "
                        "the rule places photos there once it does")
    why = fixed_lens_named(rule.camera) if rule.camera else None
    if why:
        warnings.append(f"camera {rule.camera} has a built-in lens ({why}): "
                        "the rule places none of its photos on a lens")
    return warnings


def _lens_from_row(row: dict[str, Any]) -> Lens:
    return Lens(**{k: row[k] for k in ("name", "focal_min", "focal_max", "aperture_min", "aperture_max",
                                       "stops", "mount", "maker", "source")}, chipped=bool(row["chipped"]))


# --- which lens took this photo ---------------------------------------------------------
