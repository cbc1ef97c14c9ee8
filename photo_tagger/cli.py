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
from .pipeline import Scan, ScanOptions, ScanSummary
from .registry import default_model
from .report import render, summarise
from .store import Store

DB_HELP = f"SQLite database (default: phototag.db in the per-user data folder; {HOME_ENV} relocates all state)."


def _db_option(f):  # type: ignore[no-untyped-def]
    return click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), default=None, help=DB_HELP)(f)


def _open_store(db_path: Path | None) -> Store:
    return Store(db_path or default_db_path())


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
@click.option("--all", "all_photos", is_flag=True, help="Predict photos that already have lens EXIF too, to check the model against it.")
@click.option("--force", is_flag=True, help="Redo every photo, even unchanged ones.")
def scan(paths: tuple[str, ...], db_path: Path | None, model_path: Path | None, device: str, batch_size: int, workers: int, all_photos: bool, force: bool) -> None:
    """Find photos lacking lens EXIF under PATHS and predict FNumber and focal length."""
    console = Console(stderr=True)
    with _errors_to_exit():
        model = model_path or default_model().path
        predictor = Predictor(model, device)
        options = ScanOptions(tuple(paths), all_photos, force, batch_size, workers)
        console.print(f"model {predictor.spec.model_version} ({Path(model).name}) on {predictor.provider}", highlight=False)
        with _open_store(db_path) as store, _progress(console, paths) as advance:
            summary = Scan(store, predictor, options, advance).run()
    _print_errors(summary)
    click.echo(_summary_line(summary))


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
    for path, reason in summary.errors:
        click.echo(f"error: {path}: {reason}", err=True)


def _summary_line(s: ScanSummary) -> str:
    line = (
        f"Summary: {s.found} found, {s.has_exif} already had lens EXIF, {s.predicted} predicted, "
        f"{s.unchanged} unchanged (skipped), {s.failed} failed"
    )
    if s.unsupported:
        line += f", {s.unsupported} unsupported"
    if s.found and s.unchanged == s.found:
        line += " - nothing changed since the last scan"
    return line + f" [model {s.model_version} on {s.provider}]"


@cli.command()
@_db_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def report(db_path: Path | None, fmt: str) -> None:
    """Summarise the photos and predictions in the database."""
    import json

    with _errors_to_exit(), _open_store(db_path) as store:
        summary = summarise(store)
    if fmt == "json":
        click.echo(json.dumps(summary, indent=2))
    else:
        render(summary, Console())


@cli.command()
@_db_option
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="jsonl", show_default=True)
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-", help="File to write (default: standard output).")
def export(db_path: Path | None, fmt: str, output) -> None:  # type: ignore[no-untyped-def]
    """Export one row per photo as JSON lines or CSV."""
    with _errors_to_exit(), _open_store(db_path) as store:
        count = export_rows(store.rows(), output, fmt)
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


def main() -> None:
    cli(prog_name="phototag")
