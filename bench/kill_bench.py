"""Kill `write` and `undo` hundreds of times, between every pair of their steps, and check
that the files and the database always agree.

Each kill is a real SIGKILL of a forked phototag run: either at a named step
(PHOTOTAG_FAULT_AT, photo_tagger/faults.py), so that every gap between two steps of a
write and of an undo is hit, or after a random delay. After each kill every photo must be
its original or a complete written version (image data unchanged, the estimate in its
EXIF). At the end a clean `write` must find no temporary copy and no unsettled record,
every record in effect must match its file's hash, and a final `undo` must restore every
photo byte for byte. tests/test_journal.py runs a small version of this in the suite.

    python bench/kill_bench.py --kills 200
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import pyexiv2  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from photo_tagger.atomic import TEMP_MARK  # noqa: E402
from photo_tagger.cli import cli  # noqa: E402
from photo_tagger.faults import FAULT_ENV, STEPS  # noqa: E402
from photo_tagger.tagio import jpeg_image_offset  # noqa: E402
from photos import camera_exif, make_photo  # noqa: E402
from tinymodel import build_tiny_model  # noqa: E402


def run_child(args: list[str], fault: str | None, delay: float | None) -> bool:
    """Run the CLI in a forked child, killed at a step or after a delay; True if killed."""
    pid = os.fork()
    if pid == 0:  # the child: one phototag run, then out without cleanup
        try:
            if fault:
                os.environ[FAULT_ENV] = fault
            CliRunner().invoke(cli, args)
        finally:
            os._exit(0)
    if delay is not None:
        time.sleep(delay)
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def query(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def original_or_complete(path: Path, original: bytes) -> bool:
    """True: written; False: the original; AssertionError: anything else."""
    data = path.read_bytes()
    if data == original:
        return False
    assert data[jpeg_image_offset(data):] == original[jpeg_image_offset(original):], f"{path}: image data changed"
    with pyexiv2.ImageData(data) as image:
        exif, xmp = image.read_exif(), image.read_xmp()
    assert "Exif.Photo.FNumber" in exif and xmp.get("Xmp.phototag.Estimated") == "True", f"{path}: half written"
    return True


def setup(work: Path, photos: int) -> tuple[Path, Path, dict[Path, bytes]]:
    root, db = work / "lib", work / "k.db"
    originals = {}
    for i in range(photos):
        path = make_photo(root / f"p{i:02}.jpg", exif=camera_exif(None, None), seed=i)
        originals[path] = path.read_bytes()
    model = build_tiny_model(work / "tiny.onnx")
    env = {**os.environ, "PHOTOTAG_HOME": str(work / "home")}
    subprocess.run([sys.executable, "-m", "photo_tagger", "scan", str(root), "--db", str(db), "--model", str(model),
                    "--workers", "1"], check=True, capture_output=True, env=env)
    return root, db, originals


def choose(rng: random.Random, kills: Counter[str], db: Path, photos: int) -> tuple[str, str]:
    """The command to kill, and the step least hit so far among those it can reach now."""
    active = query(db, "SELECT COUNT(*) FROM writes WHERE state = 'done' AND undone_at IS NULL")[0][0]
    command = "write" if active == 0 or (active < photos and rng.random() < 0.5) else "undo"
    steps = [s for s in STEPS if s.startswith(command)]
    least = min(kills[s] for s in steps)
    return command, rng.choice([s for s in steps if kills[s] == least])


def kill_many(work: Path, total: int, photos: int = 5, seed: int = 1) -> dict[str, object]:
    """The whole bench; returns counts, raises AssertionError on any disagreement."""
    root, db, originals = setup(work, photos)
    rng = random.Random(seed)
    kills: Counter[str] = Counter()
    commands = {"write": ["write", str(root), "--db", str(db), "--min-confidence", "0"],
                "undo": ["undo", str(root), "--db", str(db)]}
    tries = 0
    while sum(kills.values()) < total and tries < total * 4:
        tries += 1
        command, step = choose(rng, kills, db, photos)
        timed = rng.random() < 0.2
        if timed:
            killed = run_child(commands[command], None, rng.uniform(0.0, 0.06))
            kills[f"{command}:random time"] += killed
        else:
            killed = run_child(commands[command], f"{step}:{rng.randint(1, 3)}", None)
            kills[step] += killed
        for path, original in originals.items():
            original_or_complete(path, original)
    return {"kills": sum(kills.values()), "by_step": dict(kills), "tries": tries,
            **check_agreement(root, db, originals, commands)}


def check_agreement(root: Path, db: Path, originals: dict[Path, bytes], commands: dict[str, list[str]]) -> dict[str, int]:
    """The next run settles everything; then files and records agree and undo restores all."""
    done = CliRunner().invoke(cli, commands["write"])
    assert done.exit_code == 0 and "Traceback" not in done.output, done.output
    assert not [n for n in os.listdir(root) if TEMP_MARK in n], "a temporary copy was left"
    assert query(db, "SELECT COUNT(*) FROM writes WHERE state != 'done'") == [(0,)], "an unsettled record"
    active = query(db, "SELECT target, hash_after FROM writes WHERE state = 'done' AND undone_at IS NULL")
    import hashlib
    for target, hash_after in active:
        assert hashlib.sha256(Path(os.fsdecode(target)).read_bytes()).hexdigest() == hash_after, target
    assert len(active) == len(originals), "each photo written exactly once"
    written = query(db, "SELECT COUNT(*) FROM photos WHERE written = 1")[0][0]
    assert written == len(originals), f"{written} photos flagged written"
    undone = CliRunner().invoke(cli, commands["undo"])
    assert f"Undo: {len(originals)} restored" in undone.output, undone.output
    assert all(path.read_bytes() == original for path, original in originals.items()), "undo not byte-identical"
    assert not [n for n in os.listdir(root) if TEMP_MARK in n], "a temporary copy was left"
    return {"in_agreement": len(active), "restored": len(originals)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=200, help="how many runs to kill (default 200)")
    parser.add_argument("--photos", type=int, default=5, help="photos in the library (default 5)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as work:
        result = kill_many(Path(work), args.kills, args.photos, args.seed)
    print(f"{result['kills']} kills in {result['tries']} runs, {time.monotonic() - started:.0f} s")
    for step, count in sorted(result["by_step"].items()):  # type: ignore[union-attr]
        print(f"  {step:22} {count}")
    print(f"afterwards: {result['in_agreement']} records agree with their files; "
          f"undo restored {result['restored']} photos byte for byte")


if __name__ == "__main__":
    main()
