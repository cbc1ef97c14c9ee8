"""How big the HTML report of a real library is, and how long it takes to build.

Run: .venv/bin/python bench/html_report_bench.py [DATA]   (about 2 minutes: the scan)

Scans ../shared/data/portfolio (524 photos from 30 photographers) with `--all` and the shipped model in
a throw-away PHOTOTAG_HOME, then builds `phototag report --html` twice: the first build
makes and caches every thumbnail, the second finds them cached. Prints the seconds of each
and the page's size.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def phototag(home: Path, *args: str) -> None:
    exe = Path(sys.executable).with_name("phototag")
    subprocess.run([str(exe), *args], check=True, capture_output=True, env={**os.environ, "PHOTOTAG_HOME": str(home)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", type=Path, default=Path("../shared/data"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        home, page = Path(work) / "home", Path(work) / "report.html"
        start = time.perf_counter()
        phototag(home, "scan", "--all", str(args.data / "portfolio"))  # every photo estimated and shown
        print(f"scan of {args.data / 'portfolio'}: {time.perf_counter() - start:.1f} s")
        for label in ("first build (thumbnails made)", "second build (thumbnails cached)"):
            start = time.perf_counter()
            phototag(home, "report", "--html", str(page), "--format", "json")
            print(f"report --html, {label}: {time.perf_counter() - start:.1f} s, {page.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
