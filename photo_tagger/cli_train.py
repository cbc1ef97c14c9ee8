"""`phototag train` (self-calibration on your own library) and `phototag models`.

Register with `cli.add_command(train_command)` and `cli.add_command(models_command)`.
torch is imported only when `train` runs, so `scan` never pays for it.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .config import default_db_path
from .errors import PhototagError
from .lenses import LensResolver

INSTALL_HINT = "phototag train needs PyTorch and onnx: pip install 'phototag[train]'"


def _require_training_extra() -> None:
    missing = [m for m in ("torch", "onnx") if importlib.util.find_spec(m) is None]
    if missing:
        raise click.ClickException(f"{INSTALL_HINT} (missing: {', '.join(missing)})")


def _lens_facts(db_path: Path | None) -> LensResolver:
    """What the user told phototag: crop factors set with `phototag camera set`, so train
    resolves bodies as scan does, and their manual lenses and rules, whose photos it leaves out."""
    path = db_path or default_db_path()
    if not path.is_file():
        return LensResolver()
    from .lensbook import LensBook
    from .store import Store

    with Store(path) as store:
        return LensBook(store).resolver()


@click.command("train")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=str))
@click.option("--epochs", type=click.IntRange(1, 10_000), default=600, show_default=True, help="Most passes over the photos (early stopping usually ends sooner).")
@click.option("--min-photos", type=click.IntRange(3, None), default=15, show_default=True, help="Refuse to train with fewer labeled photos than this.")
@click.option("--finetune", is_flag=True, help="Also train the backbone's last two blocks with the heads, on CUDA when present; on a CPU it works but takes far longer.")
@click.option("--model", "model_path", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="Model to start from (default: your active model, else the shipped one).")
@click.option("--workers", type=click.IntRange(0, 256), default=0, help="Metadata-reading processes (default: one per CPU core).")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Database holding your `phototag camera set` crop factors and your manual lenses.")
def train_command(paths: tuple[str, ...], epochs: int, min_photos: int, finetune: bool, model_path: Path | None, workers: int, db_path: Path | None) -> None:
    """Adapt phototag to your cameras using the photos in PATHS that do carry lens EXIF.

    The adapted model is tested on held-out photos next to the current model and
    installed (and used by `scan`) only if it does better.
    """
    _require_training_extra()
    from .trainer.selfcal import SelfCalOptions, find_photos, self_calibrate

    try:
        facts = _lens_facts(db_path)
        options = SelfCalOptions(paths, epochs, min_photos, finetune, model_path, workers or None, facts.crops, facts)
        found = find_photos(options)
        _print_found(found)
        if finetune:
            _print_device()
        click.echo("computing the photos' image features, then fitting the model to them (minutes)")
        named = len(found.unreadable)
        with _feature_progress(len(found.photos) + len(found.partial)) as advance:
            try:
                result = self_calibrate(options, found, progress=advance)
            finally:
                _print_unreadable(found.unreadable[named:])
    except PhototagError as exc:
        raise click.ClickException(str(exc)) from exc
    _print_comparison(result)


def _print_found(found) -> None:  # type: ignore[no-untyped-def]
    click.echo(f"{len(found.photos)} labeled photos found; {len(found.partial)} more with an unknown crop factor "
               "teach aperture and exposure only (set it with `phototag camera set` to use their focal lengths); "
               f"left out: {found.unlabeled} without lens EXIF, {found.out_of_range} with implausible values, "
               f"{found.errors} unreadable")
    if found.manual_lens:
        click.echo(f"also left out: {found.manual_lens} with lens EXIF that your lens rules or their LensModel place on "
                   "one of your manual lenses (an adapter chip or the body's lens list records those values, not the "
                   "lens; `phototag lens rules` lists the rules)")
    if found.not_photo:
        click.echo(f"also left out: {found.not_photo} images that are no camera photos (AI-generated or screenshots "
                   "by their metadata: their lens EXIF, if any, is no lens's)")
    for body, count in found.per_body().items():
        click.echo(f"  {count:5d}  {body}")
    _print_unreadable(found.unreadable)


def _print_unreadable(failures: list[tuple[str, str]]) -> None:
    for path, why in failures:
        click.echo(f"skipped: {path}: {why}", err=True)


@contextmanager
def _feature_progress(total: int) -> Iterator[Callable[[int], None]]:
    """A bar on a terminal while the photos' image features are computed: the part that
    grows with the library (photos an earlier run saw come from its cache)."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda n: None
        return
    columns = (TextColumn("image features"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("features", total=total)
        yield lambda n: bar.advance(task, n)


def _print_device() -> None:
    from .trainer.finetune import pick_device

    if pick_device().type == "cpu":
        click.echo("fine-tuning on the CPU (no CUDA device): this works, but takes much longer than "
                   "adapting the heads alone")


def _print_comparison(result) -> None:  # type: ignore[no-untyped-def]
    sizes = result.split_sizes
    if sizes.get("members", 1) > 1:
        click.echo(f"trained {sizes['members']} cross-fitted members on {sizes['train'] + sizes['validation']} "
                   f"photos (each validated on its own fold), tested on {sizes.get('test')} held-out photos")
    else:
        click.echo(f"trained on {sizes.get('train')} photos, validated on {sizes.get('validation')}, "
                   f"tested on {sizes.get('test')} held-out photos")
    if result.base_learned:
        click.echo(f"{result.base_learned} of the labeled photos are ones {result.base_model.name} learned from: "
                   "they train the adapted model but are never among the held-out photos")
    tuned = result.finetune
    if tuned:
        best = (f"best epoch {tuned['best_epoch'] + 1} of {tuned['epochs_run']}" if tuned["best_epoch"] >= 0
                else f"no epoch of {tuned['epochs_run']} beat the heads-only start, which is kept")
        click.echo(f"fine-tuned the last {tuned['blocks']} blocks on {tuned['device']}: {best}, validation loss "
                   f"{tuned['val_loss_before']:.3f} -> {tuned['best_val_loss']:.3f}")
    click.echo(f"{'':24}{'current':>10}{'adapted':>10}{'median':>10}   adapted - current, 95% interval")
    rows = (("FNumber within one stop", "fnumber", "within_one_stop"),
            ("FNumber MAPE %", "fnumber", "mape"),
            ("focal within 20%", "focal35", "within_20_percent"),
            ("focal MAPE %", "focal35", "mape"))
    for label, target, key in rows:
        values = (result.current["model"], result.adapted["model"], result.adapted["baseline"])
        lo, hi = result.gain_95.get(target, {}).get(key, (float("nan"), float("nan")))
        gap = f"   {lo:+.3f} to {hi:+.3f}" if result.gain_95 else "   n/a"
        click.echo(f"{label:24}" + "".join(f"{v[target][key]:>10.3f}" for v in values) + gap)
    shots = result.adapted.get("shots")
    if result.gain_95:
        click.echo(f"(the intervals resample the {sizes.get('test')} held-out photos, {shots} distinct shots: one "
                   "that spans zero means they cannot tell the two models apart on that figure)")
    else:
        click.echo(f"(the {sizes.get('test')} held-out photos are a single shot, copies or a burst at one setting: "
                   "one case, so there is no interval, and a few more distinct shots would say more)")
    if result.installed:
        click.echo(f"installed {result.installed.name}; `phototag scan` now uses it")
    else:
        click.echo(f"kept {result.base_model.name}: the adapted model was not better on the held-out photos")


@click.command("models")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def models_command(fmt: str) -> None:
    """List the installed models (shipped and your own) with their held-out figures."""
    from .trainer.catalog import installed_models

    rows = installed_models()
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        mark = "*" if row["active"] else " "
        if "error" in row:
            click.echo(f"{mark} {row['name']} ({row['origin']}): unusable: {row['error']}")
            continue
        click.echo(f"{mark} {row['name']} ({row['origin']}, {row.get('version')}): "
                   f"FNumber within one stop {_pct(row.get('fnumber_within_one_stop'))}, "
                   f"focal within 20% {_pct(row.get('focal35_within_20_percent'))} "
                   f"on {row.get('test_n') or '?'} held-out photos{_tuned(row)}")
    click.echo(f"{len(rows)} model{'' if len(rows) == 1 else 's'}; * = used by scan", err=True)


def _tuned(row: dict) -> str:
    if not row.get("finetuned_blocks"):
        return ""
    weights = row.get("finetuned_weights")
    kept = f"weights in {Path(weights).name}" if weights else "its weights file is missing: `train` cannot start from it"
    return f"; backbone fine-tuned (last {row['finetuned_blocks']} blocks, {kept})"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"
