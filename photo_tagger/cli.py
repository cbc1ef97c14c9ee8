"""The command line: parse options, call the library, turn its errors into messages.

The only module that imports click or prints.
"""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from . import __version__
from .config import HOME_ENV, default_db_path
from .discover import discover
from .errors import PhototagError
from .export import FORMATS, export_rows
from .infer import DEVICES, Predictor
from .journal import settle_pending
from .lensbook import LensBook
from .pipeline import Scan, ScanOptions, ScanSummary
from .registry import default_model
from .show import Missing, show as show_records
from .showtext import render as render_show
from .report import summarise, under
from .reporttext import render
from .store import Store
from .xmp import SIDECAR_BASE, SIDECAR_FULL, VALUE_FNUMBER, VALUE_FOCAL, VALUE_LENS
from .undo import UndoSummary, undo as undo_writes, undo_last
from .writeback import DEFAULT_MIN_CONFIDENCE, FileWriter, NoOpWriter, WriteOptions, WriteStage, WriteSummary

SIDECAR_FORMS = (SIDECAR_FULL, SIDECAR_BASE)
DB_HELP = f"SQLite database (default: phototag.db in the per-user data folder; {HOME_ENV} relocates all state)."


def _db_option(f):  # type: ignore[no-untyped-def]
    return click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), default=None, help=DB_HELP)(f)


def _open_store(db_path: Path | None) -> Store:
    return Store(db_path or default_db_path())


def _write_options(f):  # type: ignore[no-untyped-def]
    """The options shared by `write` and `scan --write-exif`."""
    f = click.option("--keep-mtime/--no-keep-mtime", default=None, help="Keep each photo's modification time (default: keep; photo libraries sort by it).")(f)
    f = click.option("--sidecar", is_flag=True, help="Write XMP sidecars for every format; never touch the photos themselves (RAW, HEIC and AVIF always get sidecars).")(f)
    f = click.option("--sidecar-name", type=click.Choice(SIDECAR_FORMS), default=None,
                     help="How a new sidecar is named: full = photo.CR2.xmp (darktable, digiKam; the default), "
                          "base = photo.xmp (Lightroom, Capture One). A sidecar of either name that exists is updated instead.")(f)
    f = click.option("--dry-run", is_flag=True, help="Check everything and show what would be written; write nothing.")(f)
    return click.option(
        "--min-confidence", type=click.FloatRange(0.0, 1.0), default=None,
        help=f"Write a value only when its confidence is at least this (default {DEFAULT_MIN_CONFIDENCE}).",
    )(f)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="phototag")
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail (onnxruntime and exiv2 messages) to stderr.")
def cli(verbose: bool) -> None:
    """Estimate FNumber and focal length for photos taken with manual lenses."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=str))
@_db_option
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path), help="ONNX model to use (default: your trained model, else the shipped one).")
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True, help="auto uses CUDA when it really loads, else the CPU.")
@click.option("--batch-size", type=click.IntRange(1, 1024), default=16, show_default=True, help="Photos per model call.")
@click.option("--workers", type=click.IntRange(0, 256), default=0, help="Decoding processes (default: one per CPU core; 1 decodes in-process).")
@click.option("--all", "all_photos", is_flag=True, help="Predict photos that already have lens EXIF too, to check the model against it "
              "(images that are no camera photos stay out: see --include-non-photos).")
@click.option("--include-non-photos", is_flag=True,
              help="Estimate images marked as no camera photos too (AI-generated or screenshots by their IPTC or C2PA "
                   "provenance, a generator's or screenshot tool's Software tag without camera Make/Model, PNGs without "
                   "camera EXIF), as if they were photos: `write` then writes them. Without it they are listed with "
                   "the reason and never estimated or written.")
@click.option("--force", is_flag=True, help="Redo every photo, even unchanged ones.")
@click.option("--lens", "lens_name", help="The known lens (see `phototag lens list`) every photo here was taken with.")
@click.option("--write-exif", is_flag=True, help="After the scan, write the estimates into the photos (see `phototag write`).")
@_write_options
def scan(paths: tuple[str, ...], db_path: Path | None, model_path: Path | None, device: str, batch_size: int, workers: int, all_photos: bool, force: bool,
         write_exif: bool, min_confidence: float | None, dry_run: bool, sidecar: bool, keep_mtime: bool | None,
         sidecar_name: str | None = None, lens_name: str | None = None, include_non_photos: bool = False) -> None:
    """Find photos lacking lens EXIF under PATHS and predict FNumber and focal length.

    Images that are no camera photos (AI-generated, screenshots, PNGs without camera EXIF)
    get the status not_photo with the reason, one line each, and are never estimated or
    written, unless --include-non-photos asks for them.
    """
    console = Console(stderr=True)
    if not write_exif and (min_confidence is not None or dry_run or sidecar or keep_mtime is not None or sidecar_name):
        raise click.UsageError("--min-confidence, --dry-run, --sidecar, --sidecar-name and --keep-mtime only apply with --write-exif")
    with _errors_to_exit():
        model = model_path or default_model().path
        predictor = Predictor(model, device)
        options = ScanOptions(tuple(paths), all_photos, force, batch_size, workers, lens=lens_name,
                              include_non_photos=include_non_photos)
        console.print(f"model {predictor.spec.model_version} ({Path(model).name}) on {predictor.provider}", highlight=False)
        with _open_store(db_path) as store, _progress(console, paths) as advance:
            summary = Scan(store, predictor, options, advance).run()
    _print_errors(summary)
    click.echo(_summary_line(summary))
    for lens, count in summary.exif_kept.items():
        click.echo(f"note: {count} photos with lens EXIF match --lens or a rule for {lens}; they keep their EXIF, "
                   f"as that lens is not marked chipped. If an adapter chip wrote it: "
                   f"`phototag lens chip \"{lens}\"`, then scan again.")
    for body, count in summary.fixed_bodies.items():
        click.echo(f"note: {count} photos from {body} match --lens or a rule; that body has a built-in lens, "
                   f"so no lens of yours is applied to them")
    if write_exif and not summary.interrupted:
        write_options = _write_opts(paths, min_confidence, sidecar, keep_mtime, sidecar_name)
        with _errors_to_exit(), _open_store(db_path) as store:
            written = _run_write_stage(store, write_options, dry_run, summary.run_id)
            store.check_same_file()
        _finish_write(written, write_options)


@contextmanager
def _progress(console: Console, paths: tuple[str, ...]) -> Iterator:  # type: ignore[type-arg]
    """A rich progress bar on a terminal; nothing (line-oriented output) otherwise."""
    if not console.is_terminal:
        yield lambda n: None
        return
    total = sum(1 for _ in discover(paths))
    columns = (TextColumn("scanning"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
               _RateColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("scan", total=total)
        yield lambda n: bar.advance(task, n)


class _RateColumn(TextColumn):
    """Photos per second, the figure a user compares between runs."""

    def __init__(self) -> None:
        super().__init__("")

    def render(self, task):  # type: ignore[no-untyped-def]
        speed = task.finished_speed or task.speed
        return super().render(task) if speed is None else f"{speed:.1f} photos/s"


def _print_errors(summary: ScanSummary) -> None:
    for path, reason in summary.not_photos:
        click.echo(f"not a photo: {path}: {reason}", err=True)
    for path, reason in summary.errors:
        click.echo(f"error: {path}: {reason}", err=True)


def _summary_line(s: ScanSummary) -> str:
    checked = f" ({s.checked} of them estimated to check the model)" if s.checked else ""
    line = (
        f"Summary: {s.found} found, {s.has_exif} already had lens EXIF{checked}, {s.predicted} predicted, "
        f"{s.unchanged} unchanged (skipped), {s.failed} failed"
    )
    if s.unsupported:
        line += f", {s.unsupported} unsupported"
    if s.not_photo:
        line += f", {s.not_photo} not camera photos (not estimated)"
    if s.included_non_photos:
        line += f" ({s.included_non_photos} images that are no camera photos estimated: --include-non-photos)"
    if s.found and s.unchanged == s.found:
        line += " - nothing changed since the last scan"
    line += f" [model {s.model_version} on {s.provider}]"
    if s.library_refined:
        line += (f"\n{s.library_refined} aperture estimates also weigh your labeled photos: the light of those "
                 "taken close in time by the same body (and, for a lens that records its name, your habits with it)")
    return line


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@_db_option
@_write_options
def write(paths: tuple[str, ...], db_path: Path | None, min_confidence: float | None, dry_run: bool, sidecar: bool,
          keep_mtime: bool | None, sidecar_name: str | None) -> None:
    """Write stored estimates into the photos (all, or those under PATHS); predicts nothing.

    Only photos that lacked lens EXIF get values, each value only at or above
    --min-confidence, marked as estimates in XMP (phototag namespace); a lens you declared
    (scan --lens, lens assign) goes into LensModel, LensMake and LensSpecification unless
    the file names a lens of its own. Files are replaced
    atomically after verification; `phototag undo` restores them byte for byte. RAW, HEIC
    and AVIF files are never rewritten: their values go into an XMP sidecar.
    """
    options = _write_opts(paths, min_confidence, sidecar, keep_mtime, sidecar_name)
    with _errors_to_exit(), _open_store(db_path) as store:
        run_id = 0 if dry_run else store.start_run("write", None, None, None)
        summary = _run_write_stage(store, options, dry_run, run_id)
        if run_id:
            store.finish_run(run_id, summary.as_dict())
        store.check_same_file()  # before the summary claims anything `undo` relies on
    _finish_write(summary, options)


def _write_opts(paths: tuple[str, ...], min_confidence: float | None, sidecar: bool, keep_mtime: bool | None,
                sidecar_name: str | None = None) -> WriteOptions:
    return WriteOptions(
        tuple(paths),
        DEFAULT_MIN_CONFIDENCE if min_confidence is None else min_confidence,
        sidecar,
        keep_mtime=True if keep_mtime is None else keep_mtime,
        sidecar_name=sidecar_name or SIDECAR_FULL,
    )


def _run_write_stage(store: Store, options: WriteOptions, dry_run: bool, run_id: int) -> WriteSummary:
    writer = NoOpWriter() if dry_run else FileWriter(store, run_id)
    summary = WriteStage(store, writer, options, dry_run=dry_run).run()
    summary.run_id = run_id
    return summary


def _finish_write(s: WriteSummary, options: WriteOptions) -> None:
    """Per-file errors, the dry run's plan, one summary line; exit 1 only if every write failed."""
    for path, reason in s.errors:  # a dry run fails nothing: it says what it would skip
        click.echo(f"{'would skip' if s.dry_run else 'error'}: {path}: {reason}", err=True)
    if s.dry_run:
        for path, tags in s.planned:
            click.echo(f"would write: {path}: " + ", ".join(f"{k}={v}" for k, v in tags.items()))
    click.echo(_write_line(s, options))
    if s.written:
        click.echo(_values_line(s))
    if s.failed and not s.written:
        sys.exit(1)


def _write_line(s: WriteSummary, options: WriteOptions) -> str:
    verb = "would be written" if s.dry_run else "written"
    line = f"Write{' (dry run)' if s.dry_run else ''}: {s.written} {verb}"
    if s.into_sidecars:
        line += f" ({s.into_sidecars} into XMP sidecars)"
    held = sum(s.held_back.values())
    reasons = "; ".join(f"{n} {reason}" if len(s.held_back) > 1 else reason for reason, n in s.held_back.most_common())
    line += f", {held} held back" + (f" ({reasons})" if held else "")
    if s.already_written:
        line += f", {s.already_written} already written"
    line += f", {s.failed} would be skipped" if s.dry_run else f", {s.failed} failed"
    return line + (f" [run {s.run_id}: `phototag undo --run {s.run_id}` restores them]" if s.written and not s.dry_run else "")


def _values_line(s: WriteSummary) -> str:
    """Per value, into how many of the written photos it went, and why not into the rest."""
    parts = []
    for name in (VALUE_FNUMBER, VALUE_FOCAL, VALUE_LENS):
        if name == VALUE_LENS and not s.values[name]:
            continue
        held = "; ".join(f"{n} {why}" for (value, why), n in s.values_held.most_common() if value == name)
        parts.append(f"{name} {s.values[name]}" + (f" (not: {held})" if held else ""))
    return ("Values that would be written: " if s.dry_run else "Values written: ") + ", ".join(parts)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@_db_option
@click.option("--run", "run_id", type=int, default=None, help="Undo the writes of this run (its id is in `phototag report`).")
@click.option("--last", is_flag=True, help="Undo the newest run whose writes are still in effect.")
def undo(paths: tuple[str, ...], db_path: Path | None, run_id: int | None, last: bool) -> None:
    """Restore photos phototag wrote into, byte for byte, for one run (--run ID, --last) or under PATHS.

    A file changed since phototag wrote it is left alone, with the reason.
    """
    if last + (run_id is not None) + bool(paths) != 1:
        raise click.UsageError("give one of --run ID, --last or PATHS")
    with _errors_to_exit(), _open_store(db_path) as store:
        if last:
            run_id, summary = undo_last(store)
            if run_id is None:
                click.echo("Nothing to undo: no write is in effect.")
                return
            click.echo(f"Undoing run {run_id}, the last with writes in effect.")
        else:
            summary = undo_writes(store, run_id, tuple(paths))
        store.check_same_file()
    for path, reason in summary.errors:
        click.echo(f"error: {path}: {reason}", err=True)
    click.echo(_undo_line(summary))
    if (summary.refused or summary.failed) and not summary.restored:
        sys.exit(1)


def _undo_line(s: UndoSummary) -> str:
    line = f"Undo: {s.restored} restored"
    if s.tags_only:
        line += f" ({s.tags_only} by rewriting tag values, not byte for byte)"
    return line + f", {s.refused} refused (changed since written), {s.failed} failed"


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@_db_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write one self-contained HTML page, photos beside their estimates.")
@click.option("--all-rows", is_flag=True, help="Show every row of the tables (cameras, lenses), not the first few.")
@click.option("--errors", "all_errors", is_flag=True, help="Name every file that failed, not the first few.")
def report(paths: tuple[str, ...], db_path: Path | None, fmt: str, html_path: Path | None, all_rows: bool,
           all_errors: bool) -> None:
    """Summarise the photos and predictions in the database (all, or those under PATHS)."""
    import json

    with _errors_to_exit(), _open_store(db_path) as store:
        settle_pending(store)  # a killed write or undo: report what the files hold
        summary = summarise(store, paths)
        if html_path is not None:
            _write_html(store, html_path, paths)
    if paths and not summary["photos"]:
        click.echo("note: the database holds no photo at or under " + ", ".join(paths), err=True)
    if fmt == "json":
        click.echo(json.dumps(summary, indent=2))
    else:
        render(summary, Console(), all_rows=all_rows, all_errors=all_errors)


def _write_html(store: Store, path: Path, paths: tuple[str, ...] = ()) -> None:
    from .config import thumbs_dir
    from .htmlreport import write as write_html
    from .thumbs import ThumbCache

    try:
        count = write_html(store, ThumbCache(thumbs_dir()), path, paths)
    except OSError as exc:
        raise click.ClickException(f"{path}: the page could not be written ({exc.strerror or exc})") from exc
    click.echo(f"HTML report: {path} ({count} photos shown)", err=True)


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
@_db_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def show(paths: tuple[str, ...], db_path: Path | None, fmt: str) -> None:
    """One photo's record per PATH: EXIF, estimates, the distribution behind the confidence,
    the lens applied, what was written and how to undo it.

    Exits 1 only when none of the paths is in the database.
    """
    import json

    with _errors_to_exit(), _open_store(db_path) as store:
        settle_pending(store)  # a killed write or undo: show what the files hold
        records = show_records(store, paths)
    if fmt == "json":
        click.echo(json.dumps([r.as_dict() for r in records], indent=2))
    else:
        render_show(records, Console())
    if all(isinstance(r, Missing) for r in records):
        sys.exit(1)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@_db_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="jsonl", show_default=True)
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-", help="File to write (default: standard output).")
def export(paths: tuple[str, ...], db_path: Path | None, fmt: str, output) -> None:  # type: ignore[no-untyped-def]
    """Export one row per photo (all, or those under PATHS) as JSON lines or CSV."""
    with _errors_to_exit(), _open_store(db_path) as store:
        count = export_rows(under(store.rows(), paths), output, fmt, LensBook(store).rules())
    if output is not sys.stdout and getattr(output, "name", "-") != "<stdout>":
        click.echo(f"{count} rows written", err=True)


@contextmanager
def _errors_to_exit() -> Iterator[None]:
    """Library errors become one clear sentence and exit status 1; Ctrl-C exits 130."""
    try:
        yield
    except PhototagError as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt:
        click.echo("interrupted: finished batches are saved; run the same command to resume", err=True)
        sys.exit(130)


# Command groups living in their own modules; imported last because they use `cli`'s helpers.
from .cli_lens import camera_group, lens_group  # noqa: E402
from .cli_train import models_command, train_command  # noqa: E402

for _command in (lens_group, camera_group, train_command, models_command):
    cli.add_command(_command)


def main() -> None:
    cli(prog_name="phototag")
