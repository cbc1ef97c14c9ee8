"""The terminal report: five lines that say where a library stands, then small tables side
by side, so a whole report fits one 50-line screen at 160 columns.

Every figure comes from `report.summarise` (the JSON format); this module only draws it.
A table cut to fit says how many rows it left out; `--all-rows` and `--errors` show them.
"""

from __future__ import annotations

from typing import Any

from rich.columns import Columns
from rich.console import Console
from rich.table import Table

ROWS = 8  # rows of a table cut to fit the screen
ERRORS = 4  # failed files named before "and N more"


def render(summary: dict[str, Any], console: Console, all_rows: bool = False, all_errors: bool = False) -> None:
    for line in summary_lines(summary):
        console.print(line, highlight=False, soft_wrap=True)
    console.print()
    console.print(Columns([
        _table("Estimated FNumber", ("f-number", "photos"), summary["fnumber"].items()),
        _table("Estimated 35 mm focal length", ("mm", "photos"), summary["focal_length_35mm"].items()),
        _table("FNumber confidence", ("confidence", "photos"), summary["fnumber_confidence"].items()),
        _table("Focal length confidence", ("confidence", "photos"), summary["focal_length_confidence"].items()),
    ], padding=(0, 3)))
    accuracy = summary["accuracy_on_exif_photos"]
    if accuracy:
        console.print(Columns([_accuracy(accuracy), _reliability("FNumber", accuracy["fnumber_reliability"]),
                               _reliability("focal length", accuracy["focal35_reliability"])], padding=(0, 3)))
    lenses = {name: f"{d['photos']}" for name, d in summary.get("lenses", {}).items()}
    tables = [_cut("Cameras", ("body", "photos"), summary["cameras"], all_rows),
              _cut("Estimates by lens", ("lens", "photos"), lenses, all_rows)]
    if summary["not_photos"]:
        tables.append(_cut("Not camera photos (never estimated)", ("why", "files"), summary["not_photos"], all_rows))
    console.print(Columns(tables, padding=(0, 3)))
    _errors(console, summary.get("failed", []), all_errors)


def summary_lines(s: dict[str, Any]) -> list[str]:
    """Where the library stands, in five lines."""
    status, writes = s["by_status"], s["writes"]
    runs = writes.get("runs_in_effect", {})
    held = "; ".join(f"{n} {why}" for why, n in writes["not_written"].items()) or "none"
    models = ", ".join(s["model_versions"]) or "none yet"
    runs_text = ", ".join(f"run {r} ({_plural(n, 'file')})" for r, n in runs.items()) or "none"
    return [
        f"[bold]phototag report[/] for {s['database']}: {_shots(s)}",
        f"{status.get('predicted', 0)} estimated (no lens EXIF), {status.get('has_exif', 0)} with their own lens "
        f"EXIF, {status.get('not_photo', 0)} not camera photos, {status.get('error', 0)} failed",
        f"written: {writes['written']} photos ({writes['into_files']} into the files, {writes['into_sidecars']} into "
        f"sidecars; {', '.join(f'{name} in {n}' for name, n in writes['values'].items() if n) or 'no values'}); "
        f"runs in effect: {runs_text}"
        + (" (`phototag undo --last` takes back the newest)" if runs else ""),
        f"held back: {held}",
        f"model: {models} on {', '.join(s['providers']) or '-'}; last run {s['last_run'].get('id') or '-'} "
        f"started {s['last_run'].get('started_at') or '-'}",
    ]


def _shots(s: dict[str, Any]) -> str:
    """'12 files, 10 shots (2 RAW+JPEG pairs)': a pair is two files of one shot."""
    line = f"{_plural(s['files'], 'file')}, {_plural(s['shots'], 'shot')}"
    return line + (f" ({_plural(s['raw_jpeg_pairs'], 'RAW+JPEG pair')})" if s["raw_jpeg_pairs"] else "")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def _table(title: str, header: tuple[str, str], rows: Any) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold", box=None, pad_edge=False,
                  min_width=len(title))
    table.add_column(header[0], style="cyan")
    table.add_column(header[1], justify="right")
    for key, value in rows:
        table.add_row(str(key), str(value))
    return table


def _cut(title: str, header: tuple[str, str], data: dict[str, Any], all_rows: bool) -> Table:
    """A table of at most ROWS rows, the last saying how many more there are."""
    items = list(data.items())
    shown = items if all_rows or len(items) <= ROWS else items[:ROWS - 1]
    table = _table(title, header, shown or [("(none)", "")])
    if len(shown) < len(items):
        rest = items[len(shown):]
        table.add_row(f"and {len(rest)} more (--all-rows)", str(sum(int(v) for _, v in rest if str(v).isdigit())))
    return table


def _accuracy(a: dict[str, Any]) -> Table:
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.0f}%"

    rows = [("photos checked", a["photos"]), ("FNumber within one stop", pct(a["fnumber_within_one_stop"])),
            ("FNumber mean error (MAPE)", f"{a['fnumber_mape']}%"),
            ("focal length within 20%", pct(a["focal35_within_20pct"])),
            ("focal length mean error (MAPE)", "-" if a["focal35_mape"] is None else f"{a['focal35_mape']}%")]
    return _table("Checked against lens EXIF (scan --all)", ("", ""), rows)


def _reliability(what: str, bins: list[dict[str, Any]]) -> Table:
    title = f"How often {what} confidences came true"
    table = Table(title=title, title_justify="left", header_style="bold", box=None, pad_edge=False,
                  min_width=len(title))
    for name in ("confidence", "photos", "said", "right"):
        table.add_column(name, justify="left" if name == "confidence" else "right")
    for b in bins:
        table.add_row(str(b["confidence"]), str(b["photos"]), f"{b['mean_confidence']:.2f}", f"{b['right']:.2f}")
    return table


def _errors(console: Console, failed: list[dict[str, str]], all_errors: bool) -> None:
    if not failed:
        return
    shown = failed if all_errors else failed[:ERRORS]
    console.print(f"[bold]Failed files[/] ({len(failed)})")
    for item in shown:
        console.print(f"  {item['path']}: {item['error']}", highlight=False, soft_wrap=True)
    if len(shown) < len(failed):
        console.print(f"  and {len(failed) - len(shown)} more (`phototag report --errors` lists them all)")
