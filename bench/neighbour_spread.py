"""How far the light moves between two photos by the same body, by the time between them:
the evidence behind library.gap_sigma (docs/decisions.md). Needs exiftool.

    .venv/bin/python bench/neighbour_spread.py [../shared/data]

For every pair of photos by one body in one folder (photos/ by source, portfolio/ by
photographer), neither flash-lit, the difference of their scene EV100 (log2(N^2/t) -
log2(ISO/100) plus exposure compensation), per doubling of the gap: the robust spread
(1.48 x the median absolute difference) and the share within 1 EV.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import numpy as np


def exposures(folder: Path) -> list[tuple[str, tuple, datetime, float]]:
    out = subprocess.run(["exiftool", "-q", "-json", "-r", "-n", "-FNumber", "-ExposureTime", "-ISO",
                          "-ExposureCompensation", "-Flash", "-Make", "-Model", "-DateTimeOriginal", str(folder)],
                         capture_output=True, text=True, check=True)
    found = []
    for r in json.loads(out.stdout):
        try:
            n, t, iso = float(r["FNumber"]), float(r["ExposureTime"]), float(str(r["ISO"]).split()[0])
            taken = datetime.strptime(str(r["DateTimeOriginal"]), "%Y:%m:%d %H:%M:%S")
        except (KeyError, ValueError):
            continue
        if n <= 0 or t <= 0 or iso <= 0 or int(str(r.get("Flash") or 0).split()[0]) & 1:
            continue
        ev = math.log2(n * n / t) - math.log2(iso / 100) + float(str(r.get("ExposureCompensation") or 0).split()[0])
        group = Path(r["SourceFile"]).relative_to(folder).parts[0]
        found.append((group, (r.get("Make"), r.get("Model")), taken, ev))
    return found


def main() -> None:
    data = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")
    for name in ("photos", "portfolio"):
        by_gap: dict[int, list[float]] = defaultdict(list)
        found = exposures(data / name)
        for i, (g1, b1, t1, e1) in enumerate(found):
            for g2, b2, t2, e2 in found[i + 1:]:
                gap = abs((t1 - t2).total_seconds())
                if g1 == g2 and b1 == b2 and gap > 0:
                    by_gap[min(int(math.log2(gap)), 20)].append(e1 - e2)
        print(f"{name}: gap up to, pairs, robust spread (EV), within 1 EV")
        for k in sorted(by_gap):
            d = np.asarray(by_gap[k])
            print(f"  {2 ** (k + 1) / 60:8.1f} min {len(d):6d} {1.48 * np.median(np.abs(d)):6.2f} {np.mean(np.abs(d) <= 1):6.2f}")


if __name__ == "__main__":
    main()
