"""Summarise a database: counts, distributions, accuracy on photos that had EXIF.

`summarise` returns plain data (the JSON format); `render` draws it with rich.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from rich.console import Console
from rich.table import Table

from .store import Store

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


def _histogram(values: list[float], edges: tuple[float, ...], fmt: str) -> dict[str, int]:
    order = [_bin_label(e - 1e-9, edges, fmt) for e in edges] + [_bin_label(edges[-1], edges, fmt)]
    counts = Counter(_bin_label(v, edges, fmt) for v in values)
    return {label: counts[label] for label in order if counts[label]}


def accuracy(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Model vs EXIF on photos that had lens EXIF and were predicted too (`scan --all`)."""
    pairs = [r for r in rows if r["status"] == "has_exif" and r["fnumber"] and r["exif_fnumber"]]
    if not pairs:
        return None
    f_err = [abs(r["fnumber"] - r["exif_fnumber"]) / r["exif_fnumber"] for r in pairs]
    stops = [abs(2 * math.log2(r["fnumber"] / r["exif_fnumber"])) for r in pairs]
    focal = [r for r in pairs if r["focal_length_35mm"] and _true_focal35(r)]
    l_err = [abs(r["focal_length_35mm"] - _true_focal35(r)) / _true_focal35(r) for r in focal]  # type: ignore[operator]
    return {
        "photos": len(pairs),
        "fnumber_mape": round(100 * sum(f_err) / len(f_err), 1),
        "fnumber_within_one_stop": round(sum(s <= 1.0 + 1e-9 for s in stops) / len(stops), 3),
        "focal35_photos": len(focal),
        "focal35_mape": round(100 * sum(l_err) / len(l_err), 1) if l_err else None,
        "focal35_within_20pct": round(sum(e <= 0.2 for e in l_err) / len(l_err), 3) if l_err else None,
    }


def _true_focal35(row: dict[str, Any]) -> float | None:
    if row["exif_focal_length_35mm"]:
        return float(row["exif_focal_length_35mm"])
    if row["exif_focal_length"] and row["crop_factor"]:
        return float(row["exif_focal_length"] * row["crop_factor"])
    return None


def by_lens(predicted: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Predictions per known lens (see `phototag lens`): counts and mean confidences."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in predicted:
        groups.setdefault(r.get("lens_name") or "(no known lens)", []).append(r)
    mean = lambda rs, key: round(sum(r[key] or 0.0 for r in rs) / len(rs), 3)  # noqa: E731
    return {
        name: {"photos": len(rs), "fnumber_confidence": mean(rs, "fnumber_confidence"),
               "focal_length_confidence": mean(rs, "focal_length_confidence")}
        for name, rs in sorted(groups.items(), key=lambda kv: -len(kv[1]))
    }


def summarise(store: Store) -> dict[str, Any]:
    rows = list(store.rows())
    predicted = [r for r in rows if r["fnumber"] is not None]
    runs = store.runs()
    last = runs[-1] if runs else {}
    cameras = Counter(" ".join(filter(None, (r["camera_make"], r["camera_model"]))) or "(unknown)" for r in rows if r["status"] in ("has_exif", "predicted"))
    return {
        "database": str(store.path),
        "photos": len(rows),
        "by_status": dict(Counter(r["status"] for r in rows)),
        "fnumber": _histogram([r["fnumber"] for r in predicted], FNUMBER_EDGES, "f/{:g}"),
        "focal_length_35mm": _histogram([r["focal_length_35mm"] for r in predicted], FOCAL35_EDGES, "{:g} mm"),
        "fnumber_confidence": _histogram([r["fnumber_confidence"] for r in predicted], CONFIDENCE_EDGES, "{:.1f}"),
        "focal_length_confidence": _histogram([r["focal_length_confidence"] for r in predicted], CONFIDENCE_EDGES, "{:.1f}"),
        "accuracy_on_exif_photos": accuracy(rows),
        "cameras": dict(cameras.most_common(20)),
        "lenses": by_lens(predicted),
        "model_versions": dict(Counter(r["model_version"] for r in predicted)),
        "providers": dict(Counter(r["provider"] for r in predicted)),
        "last_run": {k: last.get(k) for k in ("id", "started_at", "finished_at", "model_version", "provider")},
        "writes": store.write_counts(),
    }


def render(summary: dict[str, Any], console: Console) -> None:
    """Draw the summary as rich tables."""
    console.print(f"[bold]phototag report[/] for {summary['database']}: {summary['photos']} photos")
    _table(console, "Photos by status", summary["by_status"])
    _table(console, "Predicted FNumber", summary["fnumber"])
    _table(console, "Predicted 35 mm-equivalent focal length", summary["focal_length_35mm"])
    _table(console, "FNumber confidence", summary["fnumber_confidence"])
    _table(console, "Focal length confidence", summary["focal_length_confidence"])
    if summary["accuracy_on_exif_photos"]:
        _table(console, "Accuracy on photos with lens EXIF (scan --all)", summary["accuracy_on_exif_photos"])
    _table(console, "Cameras seen", summary["cameras"])
    _table(console, "Predictions by lens", {
        name: f"{d['photos']} photos, FNumber conf {d['fnumber_confidence']}, focal conf {d['focal_length_confidence']}"
        for name, d in summary.get("lenses", {}).items()
    })
    _table(console, "Model versions", summary["model_versions"])
    _table(console, "Execution providers", summary["providers"])
    writes = summary["writes"]
    _table(console, "Estimates written into files (phototag write / scan --write-exif)", {
        "photos written": writes["written"], "into the photos": writes["into_files"],
        "into XMP sidecars": writes["into_sidecars"], "writes undone": writes["undone"],
        **{f"not written: {reason}": n for reason, n in writes["not_written"].items()},
    })


def _table(console: Console, title: str, data: dict[str, Any]) -> None:
    table = Table(title=title, title_justify="left", show_header=False, min_width=max(40, len(title) + 4))
    table.add_column(style="cyan")
    table.add_column(justify="right")
    for key, value in data.items():
        table.add_row(str(key), str(value))
    if not data:
        table.add_row("(none)", "")
    console.print(table)
