"""`phototag report --html FILE`: one self-contained page, thumbnails inside, no server.

Photographers judge an estimate by looking at the photo beside it. The page shows the
summary first (the same figures as `report --format json`, which it also carries), the
estimates grouped by lens and by aperture, the reliability of the confidences on photos
checked with `scan --all` with the best and worst of them, and every file that failed.
Each thumbnail is embedded once and placed by a few lines of script wherever it appears.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .journal import real_path
from .report import summarise, under
from .store import Store
from .thumbs import ThumbCache

PER_GROUP = 200  # thumbnails shown per lens or aperture group (the most confident); the count says how many more
EXAMPLES = 8  # best and worst checked photos shown
STOPS = (1.0, 1.4, 2.0, 2.8, 4.0, 5.6, 8.0, 11.0, 16.0, 22.0)


@dataclass
class Page:
    """What the page shows, gathered in one pass over the photos."""

    thumbs: dict[str, int] = field(default_factory=dict)  # path -> index into data
    data: list[str] = field(default_factory=list)  # data: URIs
    by_lens: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    by_stop: dict[str, list[dict]] = field(default_factory=lambda: defaultdict(list))
    checked: list[dict] = field(default_factory=list)  # scan --all photos: estimate and EXIF
    failed: list[dict] = field(default_factory=list)


def nearest_stop(fnumber: float) -> str:
    stop = min(STOPS, key=lambda s: abs(math.log2(fnumber / s)))
    return f"f/{stop:g}"


def gather(store: Store, paths: Sequence[str] = ()) -> Page:
    page = Page()
    for row in under(store.rows(), paths):
        if row["status"] in ("error", "not_photo"):
            page.failed.append(row)
        elif row["fnumber"] is not None:  # estimated: lacking lens EXIF, or checked (scan --all)
            page.by_lens[row.get("lens_name") or row.get("lens_model") or "no lens declared"].append(row)
            page.by_stop[nearest_stop(row["fnumber"])].append(row)
            if row["status"] == "has_exif" and row.get("exif_fnumber"):
                page.checked.append(row)
    return page


def build(store: Store, thumbs: ThumbCache, paths: Sequence[str] = ()) -> tuple[str, int]:
    """The page's HTML (of the photos under paths, if given), and how many thumbnails it embeds."""
    summary = summarise(store, paths)
    page = gather(store, paths)
    body = [_summary(summary, page), _groups(page, thumbs, "Estimates by lens", page.by_lens),
            _groups(page, thumbs, "Estimates by aperture", dict(sorted(page.by_stop.items(), key=_stop_key))),
            _checked(summary, page, thumbs), _failures(page)]
    data = json.dumps(page.data)
    return TEMPLATE.format(style=STYLE, body="\n".join(body), summary=_script_json(summary), thumbs=data,
                           database=html.escape(summary["database"])), len(page.data)


def write(store: Store, thumbs: ThumbCache, out: Path, paths: Sequence[str] = ()) -> int:
    """Write the page to out (atomically); returns the thumbnails embedded."""
    text, count = build(store, thumbs, paths)
    temp = out.with_name(f".{out.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    temp.replace(out)
    return count


def _stop_key(item: tuple[str, list]) -> float:
    return float(item[0][2:])


def _script_json(value: Any) -> str:
    return json.dumps(value).replace("</", "<\\/")


def _thumb(page: Page, thumbs: ThumbCache, row: dict) -> str:
    """One photo: its thumbnail (by index, filled in by the script) and its numbers."""
    path = row["path"]
    if path not in page.thumbs:
        jpeg = thumbs.get(real_path(row), row["size"], row["mtime_ns"])
        page.thumbs[path] = len(page.data) if jpeg else -1
        if jpeg:
            page.data.append("data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii"))
    index = page.thumbs[path]
    name = html.escape(Path(path).name)
    img = f'<img data-t="{index}" alt="{name}">' if index >= 0 else '<div class="none">no preview</div>'
    return f'<figure title="{html.escape(path)}">{img}<figcaption>{name}<br>{_numbers(row)}</figcaption></figure>'


def _numbers(row: dict) -> str:
    parts = [f"f/{row['fnumber']:.1f} ({row['fnumber_confidence'] or 0:.2f})"]
    if row.get("focal_length"):
        parts.append(f"{row['focal_length']:.0f} mm ({row['focal_length_confidence'] or 0:.2f})")
    if row.get("exif_fnumber") and row["status"] == "has_exif":
        parts.append(f"EXIF f/{row['exif_fnumber']:.1f}")
    if row.get("written"):
        parts.append("written")
    return html.escape(", ".join(parts))


def _count(name: str, value: Any) -> str:
    return f'<span class="n" data-count="{name}">{html.escape(str(value))}</span>'


def _summary(summary: dict, page: Page) -> str:
    status, writes = summary["by_status"], summary["writes"]
    held = "".join(f"<li>{_count('held:' + reason, n)} {html.escape(reason)}</li>"
                   for reason, n in writes["not_written"].items())
    return (f'<section id="summary"><h2>Summary</h2><ul>'
            f'<li>{_count("photos", summary["photos"])} files scanned</li>'
            f'<li>{_count("predicted", status.get("predicted", 0))} estimated (no lens EXIF)</li>'
            f'<li>{_count("has_exif", status.get("has_exif", 0))} with their own lens EXIF</li>'
            f'<li>{_count("written", writes["written"])} written '
            f'({_count("into_files", writes["into_files"])} into the photos, '
            f'{_count("into_sidecars", writes["into_sidecars"])} into sidecars)</li>'
            f'<li>{_count("not_photo", status.get("not_photo", 0))} not camera photos, '
            f'{_count("error", status.get("error", 0))} failed</li>'
            f'</ul><h3>Held back, and why</h3><ul>{held or "<li>nothing</li>"}</ul></section>')


def _groups(page: Page, thumbs: ThumbCache, title: str, groups: dict[str, list[dict]]) -> str:
    parts = [f"<section><h2>{title}</h2>"]
    for name, rows in groups.items():
        rows = sorted(rows, key=lambda r: -(r["fnumber_confidence"] or 0))
        more = f" (the {PER_GROUP} most confident shown)" if len(rows) > PER_GROUP else ""
        parts.append(f"<h3>{html.escape(name)}: {len(rows)} photos{more}</h3><div class='grid'>")
        parts.extend(_thumb(page, thumbs, r) for r in rows[:PER_GROUP])
        parts.append("</div>")
    if not groups:
        parts.append("<p>No estimates yet.</p>")
    return "".join(parts) + "</section>"


def _checked(summary: dict, page: Page, thumbs: ThumbCache) -> str:
    """Reliability, estimate against EXIF, best and worst: only for scan --all photos."""
    accuracy = summary.get("accuracy_on_exif_photos")
    if not accuracy or not page.checked:
        return ("<section><h2>How far to trust the estimates</h2><p>Run <code>phototag scan --all</code> "
                "to check the model against your photos that carry lens EXIF.</p></section>")
    rows = "".join(f"<tr><td>{b['confidence']}</td><td>{b['photos']}</td><td>{b['mean_confidence']:.2f}</td>"
                   f"<td>{b['right']:.2f}</td></tr>" for b in accuracy["fnumber_reliability"])
    ranked = sorted(page.checked, key=lambda r: abs(math.log2(r["fnumber"] / r["exif_fnumber"])))
    best = "".join(_thumb(page, thumbs, r) for r in ranked[:EXAMPLES])
    worst = "".join(_thumb(page, thumbs, r) for r in ranked[::-1][:EXAMPLES])
    return (f"<section><h2>How far to trust the estimates ({len(page.checked)} photos checked with scan --all)</h2>"
            f"<table><tr><th>confidence</th><th>photos</th><th>said</th><th>right (within one stop)</th></tr>"
            f"{rows}</table><h3>Estimate against EXIF</h3>{_scatter(page.checked)}"
            f"<h3>Closest</h3><div class='grid'>{best}</div><h3>Furthest off</h3><div class='grid'>{worst}</div>"
            "</section>")


def _scatter(rows: list[dict]) -> str:
    """FNumber estimate against EXIF on log axes, f/1 to f/32, the one-stop band shaded."""
    size, lo, hi = 320, 0.0, 5.0  # log2 of f/1 and f/32

    def at(value: float) -> float:
        return 20 + (min(max(math.log2(value), lo), hi) - lo) / (hi - lo) * (size - 40)

    dots = "".join(f'<circle cx="{at(r["exif_fnumber"]):.1f}" cy="{size - at(r["fnumber"]):.1f}" r="3"/>'
                   for r in rows)
    band = (f'<polygon class="band" points="{at(1):.0f},{size - at(2 ** 0.5):.0f} {at(32):.0f},{size - at(32 * 2 ** 0.5):.0f} '
            f'{at(32):.0f},{size - at(32 / 2 ** 0.5):.0f} {at(2 ** 0.5):.0f},{size - at(1):.0f}"/>')
    ticks = "".join(f'<text x="{at(s):.0f}" y="{size - 4}">f/{s:g}</text>' for s in (1.4, 2.8, 5.6, 11, 22))
    return f'<svg width="{size}" height="{size}" role="img" aria-label="estimate against EXIF">{band}{dots}{ticks}</svg>'


def _failures(page: Page) -> str:
    items = "".join(f"<li><code>{html.escape(r['path'])}</code>: {html.escape(r.get('error') or r.get('not_photo') or '')}</li>"
                    for r in page.failed)
    return f"<section><h2>Files not estimated</h2><ul>{items or '<li>none</li>'}</ul></section>"


STYLE = """body{font:14px system-ui,sans-serif;margin:2em;color:#222}h2{border-bottom:1px solid #ccc}
.grid{display:flex;flex-wrap:wrap;gap:8px}figure{margin:0;width:170px;font-size:12px}
img{max-width:160px;max-height:160px;display:block}.none{width:160px;height:100px;background:#eee}
.n{font-weight:bold}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 8px}
svg{background:#fafafa;border:1px solid #ccc}circle{fill:#2a6fdb;opacity:.6}.band{fill:#d8f0d8}
text{font-size:10px;fill:#666}"""

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>phototag report</title><style>{style}</style></head>
<body><h1>phototag report</h1><p>{database}</p>
{body}
<script type="application/json" id="report-json">{summary}</script>
<script>
const T = {thumbs};
const imgs = [...document.querySelectorAll("img[data-t]")];
imgs.forEach(i => {{ i.src = T[+i.dataset.t]; }});
window.addEventListener("load", () => {{  // the page's load waits for images given a src before it
  document.body.dataset.images = imgs.length;
  document.body.dataset.loaded = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
}});
</script></body></html>
"""
