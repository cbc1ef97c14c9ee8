"""`phototag lens ...` and `phototag camera ...`: the user's lenses, rules and bodies.

Each command parses options, opens the database, calls lensbook.LensBook, prints.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace as replace_lens
from pathlib import Path

import click

from .config import HOME_ENV, default_db_path
from .errors import PhototagError
from .lensbook import LensBook, rule_warnings
from .lenses import STOPS, Lens, custom_lens, near_lensfun, pick_lensfun, search_lensfun
from .store import Store

_DB_HELP = f"SQLite database (default: phototag.db in the per-user data folder; {HOME_ENV} relocates all state)."


def _db_option(f):  # type: ignore[no-untyped-def]
    return click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), default=None, help=_DB_HELP)(f)


@contextmanager
def _book(db_path: Path | None) -> Iterator[LensBook]:
    """The lens book of the database; library errors become one clear sentence."""
    try:
        with Store(db_path or default_db_path()) as store:
            yield LensBook(store)
    except PhototagError as exc:
        raise click.ClickException(str(exc)) from exc


def _line(lens: Lens) -> str:
    return f"{lens.name}  ({lens.describe()}; {lens.source})"


@click.group("lens")
def lens_group() -> None:
    """Your manual lenses: find them in lensfun, add them, say where you used them."""


@lens_group.command("search")
@click.argument("text")
@click.option("--limit", type=click.IntRange(1, 10_000), default=30, show_default=True, help="Most lenses to list.")
def lens_search(text: str, limit: int) -> None:
    """Search the lensfun lens database for TEXT, as you would write it ('Helios 44-2', 'jupiter-9').

    Every word must match, spaces and hyphens aside; whole words rank first. When none
    matches, the nearest names are listed."""
    found = search_lensfun(text)
    if not found:
        _near(text, limit)
        return
    for lens in found[:limit]:
        click.echo(_line(lens))
    more = f" (showing {limit})" if len(found) > limit else ""
    click.echo(f"{len(found)} lensfun lenses match {text!r}{more}", err=True)


def _near(text: str, limit: int) -> None:
    """No lens has every word: the near matches, and how to describe the lens yourself."""
    near = near_lensfun(text, min(limit, 5))
    click.echo(f"no lensfun lens matches {text!r}" + ("; near matches:" if near else ""), err=True)
    for lens in near:
        click.echo(_line(lens))
    click.echo("not listed? describe it yourself: `phototag lens add NAME --focal 58 --aperture 2-16`", err=True)


@lens_group.command("add")
@click.argument("name")
@click.option("--focal", help="Focal length in mm: 58 for a prime, 28-70 for a zoom (makes a custom lens).")
@click.option("--aperture", help="FNumber range, widest to smallest: 2-16 (or just the widest: 2).")
@click.option("--stops", type=click.Choice(STOPS), default=None, help="The aperture ring's clicks (default: full).")
@click.option("--mount", help="Mount, e.g. M42 (informational).")
@click.option("--maker", help="Maker of a custom lens (informational).")
@click.option("--chipped", is_flag=True,
              help="It sits on an adapter with a focus-confirm chip, whose made-up lens EXIF its photos carry: "
                   "its rules then place those photos too (scan estimates them, train does not learn from them); "
                   "`phototag lens chip` says so of a lens added before.")
@click.option("--replace", is_flag=True, help="Replace a lens of the same name, keeping its rules.")
@_db_option
def lens_add(name: str, focal: str | None, aperture: str | None, stops: str | None, mount: str | None,
             maker: str | None, chipped: bool, replace: bool, db_path: Path | None) -> None:
    """Add lens NAME: from lensfun (by name), or your own with --focal and --aperture.

    Photos with lens EXIF are taken to come from an electronic lens, so a rule for a lens
    places only the photos without it, unless the lens is --chipped."""
    with _book(db_path) as book:
        if focal:
            lens = replace_lens(custom_lens(name, focal, aperture, stops or "full", mount, maker), chipped=chipped)
        else:
            if aperture:
                raise click.UsageError("--aperture describes a custom lens: give --focal too")
            found = pick_lensfun(name)
            lens = Lens(found.name, found.focal_min, found.focal_max, found.aperture_min, found.aperture_max,
                        stops or found.stops, mount or found.mount, found.maker, "lensfun", chipped)
        book.add(lens, replace)
    click.echo(f"added {_line(lens)}")


@lens_group.command("list")
@_db_option
def lens_list(db_path: Path | None) -> None:
    """List your lenses and the rules that assign them."""
    with _book(db_path) as book:
        lenses, rules = book.lenses(), book.rules()
    for lens in lenses:
        click.echo(_line(lens))
        for rule in (r for r in rules if r.lens_name == lens.name):
            click.echo(f"    rule {rule.id}: {rule.describe()}")
    click.echo(f"{len(lenses)} lenses, {len(rules)} rules", err=True)


@lens_group.command("remove")
@click.argument("name")
@_db_option
def lens_remove(name: str, db_path: Path | None) -> None:
    """Forget lens NAME and the rules that assign it (photos keep their results until rescanned)."""
    with _book(db_path) as book:
        lens, rules = book.remove(name)
    click.echo(f"removed {lens.name}" + (f" and {rules} rules" if rules else ""))


@lens_group.command("chip")
@click.argument("name")
@click.option("--off", is_flag=True, help="It no longer sits on a chipped adapter.")
@_db_option
def lens_chip(name: str, off: bool, db_path: Path | None) -> None:
    """Lens NAME sits on an adapter with a focus-confirm chip (or, with --off, no longer does).

    The chip writes made-up lens EXIF into its photos, so its rules then place those photos
    too: scan estimates them, train does not learn from them. Its rules stay as they are."""
    with _book(db_path) as book:
        lens = book.set_chipped(name, not off)
    click.echo(_line(lens))
    click.echo("rescan to apply it: `phototag scan PATH` redoes the photos it affects", err=True)


@lens_group.command("assign")
@click.argument("names", nargs=-1, required=True)
@click.option("--folder", help="Photos in this folder (or matching this glob), at any depth.")
@click.option("--camera", help="Photos from this body's model (as EXIF names it; globs allowed).")
@click.option("--from", "date_from", type=click.DateTime(["%Y-%m-%d"]), help="Photos taken on or after this day (YYYY-MM-DD).")
@click.option("--to", "date_to", type=click.DateTime(["%Y-%m-%d"]), help="Photos taken on or before this day.")
@_db_option
def lens_assign(names: tuple[str, ...], folder: str | None, camera: str | None, date_from, date_to,  # type: ignore[no-untyped-def]
                db_path: Path | None) -> None:
    """A lasting rule: photos matching every condition were taken with NAMES.

    Name several lenses to let the model pick among them by focal length. A folder that
    does not exist (a drive not mounted) or a body with a built-in lens (a phone, a compact)
    is warned about; the rule is kept. Photos from such bodies are never placed on a lens.
    """
    day = lambda d: d.strftime("%Y-%m-%d") if d else None  # noqa: E731
    with _book(db_path) as book:
        for lens in [book.get(n) for n in names]:  # check every name before adding any rule
            rule = book.assign(lens.name, folder, camera, day(date_from), day(date_to))
            click.echo(f"rule {rule.id}: {rule.describe()} -> {lens.name}")
        for warning in rule_warnings(rule):  # the same conditions for every lens named
            click.echo(f"warning: {warning}", err=True)
    click.echo("rescan to apply it: `phototag scan PATH` redoes the predictions it affects", err=True)


@lens_group.command("rules")
@_db_option
def lens_rules(db_path: Path | None) -> None:
    """List the rules that assign lenses to photos."""
    with _book(db_path) as book:
        rules = book.rules()
    for rule in rules:
        click.echo(f"rule {rule.id}: {rule.describe()} -> {rule.lens_name}")
    click.echo(f"{len(rules)} rules", err=True)


@lens_group.command("unassign")
@click.argument("rule_id", type=int)
@_db_option
def lens_unassign(rule_id: int, db_path: Path | None) -> None:
    """Delete rule RULE_ID (see `phototag lens rules`)."""
    with _book(db_path) as book:
        rule = book.unassign(rule_id)
    click.echo(f"deleted rule {rule.id}: {rule.describe()} -> {rule.lens_name}")


@click.group("camera")
def camera_group() -> None:
    """Camera bodies: crop factors for bodies lensfun does not know."""


@camera_group.command("set")
@click.argument("model")
@click.option("--crop", type=float, required=True, help="Crop factor (1.0 full frame, 1.5 APS-C, 2.0 Four Thirds).")
@_db_option
def camera_set(model: str, crop: float, db_path: Path | None) -> None:
    """Give body MODEL (as EXIF names it) a crop factor; it wins over EXIF and lensfun."""
    with _book(db_path) as book:
        book.set_crop(model, crop)
    click.echo(f"{model}: crop factor {crop:g}")


@camera_group.command("list")
@_db_option
def camera_list(db_path: Path | None) -> None:
    """List the crop factors you set."""
    with _book(db_path) as book:
        crops = book.crops()
    for model, crop in crops.items():
        click.echo(f"{model}: crop factor {crop:g}")
    click.echo(f"{len(crops)} cameras", err=True)


@camera_group.command("unset")
@click.argument("model")
@_db_option
def camera_unset(model: str, db_path: Path | None) -> None:
    """Forget the crop factor you set for MODEL."""
    with _book(db_path) as book:
        if not book.unset_crop(model):
            raise click.ClickException(f"no crop factor was set for {model!r}")
    click.echo(f"{model}: crop factor unset")
