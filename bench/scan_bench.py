"""Where `phototag scan` spends its time, against the machine's own lower bounds.

Run: .venv/bin/python bench/scan_bench.py            (about 3 minutes on 2 cores)
     .venv/bin/python bench/scan_bench.py --quick    (a smoke run)
     .venv/bin/python bench/scan_bench.py --model OTHER.onnx  (any model file, such as an int8
                     copy: bench/quantize_bench.py in commit 30db52f made them; docs/decisions.md)

Builds a library of 24 MP camera-sized JPEGs (photos from ../shared/data upscaled, their
EXIF kept but FNumber/FocalLength removed, as a manual lens leaves them), hard-linked
under many names, and prints, each as a median over --repeats runs:
 1. the metadata pass (walk + EXIF + lens-EXIF filter) in files/s, next to exiftool -fast2;
 2. the full scan in photos/s next to two lower bounds: decode+preprocess alone on all
    cores, and the model alone on pre-decoded batches; the CPU time per photo of all three;
 3. a rescan of the unchanged library in files/s;
 4. peak memory of a scan for two library sizes (small photos, tiny model: structure only);
 5. full-scan scaling with --workers and --batch-size.
And a RAW row (2b, alone with --raw-only): on one core, the embedded preview of the
Canon EOS 30D CR2 in ../shared/data/formats extracted per second, and extracted, decoded
and preprocessed per second, beside a 24 MP JPEG decoded and preprocessed per second.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pyexiv2
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from photo_tagger.analyse import read_file_metadata  # noqa: E402
from photo_tagger.discover import discover  # noqa: E402
from photo_tagger.infer import Predictor  # noqa: E402
from photo_tagger.pipeline import Scan, ScanOptions  # noqa: E402
from photo_tagger.preprocess import prepare  # noqa: E402
from photo_tagger.rawpreview import raw_preview  # noqa: E402
from photo_tagger.registry import default_model  # noqa: E402
from photo_tagger.store import Store  # noqa: E402

SHARED = ROOT.parent / "shared" / "data" / "photos"
RAW_SAMPLE = ROOT.parent / "shared" / "data" / "formats" / "IMG_5952.CR2"
LENS_TAGS = ("Exif.Photo.FNumber", "Exif.Photo.FocalLength", "Exif.Photo.FocalLengthIn35mmFilm", "Exif.Photo.ApertureValue")


def median_time(fn: Callable[[], object], repeats: int) -> float:
    return median_cost(fn, repeats)[0]


def _cpu_seconds() -> float:
    """CPU time of this process and of its children that have ended (a pool's workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def median_cost(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall seconds and median CPU seconds of fn. CPU time is what the cores spent,
    whatever else runs on the machine: steadier than wall time on a shared machine."""
    walls, cpus = [], []
    for _ in range(repeats):
        cpu, start = _cpu_seconds(), time.perf_counter()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(_cpu_seconds() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def camera_jpeg(source: Path, target: Path, size: tuple[int, int], keep_lens: bool = False) -> None:
    """A camera-sized JPEG from a real photo, with its EXIF (minus the lens values unless keep_lens)."""
    with Image.open(source) as im:
        im.convert("RGB").resize(size, Image.Resampling.BICUBIC).save(target, quality=92)
    with pyexiv2.Image(str(source)) as src:
        exif = {k: v for k, v in src.read_exif().items() if k.startswith(("Exif.Image.Make", "Exif.Image.Model", "Exif.Photo.Exposure", "Exif.Photo.ISO", "Exif.Photo.Flash"))
                or (keep_lens and k in LENS_TAGS)}
    with pyexiv2.Image(str(target)) as dst:
        dst.modify_exif(exif)
        if not keep_lens:
            dst.modify_exif({k: None for k in LENS_TAGS})


def build_library(folder: Path, count: int, distinct: int, size: tuple[int, int], keep_lens: bool = False) -> Path:
    """`count` files, hard links to `distinct` real-content JPEGs, spread over folders."""
    sources = sorted(p for p in SHARED.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))[:: max(1, 300 // distinct)]
    base = folder / ".base"
    base.mkdir(parents=True)
    originals: list[Path] = []
    for src in sources:
        if len(originals) == distinct:
            break
        out = base / f"base{len(originals):03}.jpg"
        try:
            camera_jpeg(src, out, size, keep_lens)
        except RuntimeError:  # pyexiv2 refuses some sample XMP packets (a property given twice)
            out.unlink(missing_ok=True)
            continue
        originals.append(out)
    for i in range(count):
        sub = folder / f"roll{i // 500:03}"
        sub.mkdir(exist_ok=True)
        os.link(originals[i % len(originals)], sub / f"IMG_{i:05}.jpg")
    return folder


def metadata_only(path: str) -> bool:
    with open(path, "rb") as handle:
        return read_file_metadata(handle)[2].has_lens_exif


def metadata_pass(library: Path, workers: int) -> int:
    paths = [f.path for f in discover([library]) if f.kind == "photo"]
    with ProcessPoolExecutor(workers) as pool:
        lacking = sum(not has for has in pool.map(metadata_only, paths, chunksize=64))
    return lacking


def decode_only(args: tuple[str, object]) -> int:
    path, spec = args
    return prepare(Path(path).read_bytes(), spec).nbytes  # type: ignore[arg-type]


def decode_bound(library: Path, spec: object, workers: int) -> int:
    paths = [f.path for f in discover([library]) if f.kind == "photo"]
    with ProcessPoolExecutor(workers) as pool:
        return sum(pool.map(decode_only, [(p, spec) for p in paths], chunksize=4))


def scan_once(library: Path, model: Path, db: Path, workers: int, batch: int, force: bool) -> object:
    with Store(db) as store:
        return Scan(store, Predictor(model, "auto"), ScanOptions((str(library),), force=force, batch_size=batch, workers=workers)).run()


def peak_memory_mb(library: Path, model: Path, db: Path) -> tuple[float, float]:
    """Peak RSS of the scanning process and of its largest worker, from a fresh process."""
    code = (
        "import resource, sys; from pathlib import Path; sys.path.insert(0, sys.argv[4]);"
        "from scan_bench import scan_once; scan_once(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), 0, 16, True);"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(library), str(model), str(db), str(ROOT / "bench")], capture_output=True, text=True, check=True)
    main_kb, child_kb = out.stdout.split()[-2:]
    return int(main_kb) / 1024, int(child_kb) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=200, help="photos in the timed library")
    parser.add_argument("--rescan-photos", type=int, default=20000)
    parser.add_argument("--memory-sizes", default="1000,20000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", type=Path, default=None, help="default: the model scan would use")
    parser.add_argument("--quick", action="store_true", help="small sizes, one repeat")
    parser.add_argument("--raw-only", action="store_true", help="only the RAW row (2b): seconds, not minutes")
    args = parser.parse_args()
    if args.quick:
        args.photos, args.rescan_photos, args.memory_sizes, args.repeats = 24, 2000, "200,1000", 1
    cores = os.cpu_count() or 1
    model = args.model or default_model().path
    predictor = Predictor(model, "auto")
    spec = predictor.spec
    work = Path(tempfile.mkdtemp(prefix="phototag-bench-"))
    print(f"machine: {cores} cores; model {spec.model_version} ({model.name}), input {spec.input_size}px, provider {predictor.provider}")
    try:
        if args.raw_only:
            raw_row(build_library(work / "lib", 1, 1, (6000, 4000)), spec, args.repeats)
        else:
            report(args, work, model, predictor, spec, cores)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def full_scan(lib: Path, model: Path, predictor: Predictor, db: Path, cores: int, n: int, repeats: int) -> None:
    """The full scan next to its two lower bounds, in wall time and in CPU time per photo."""
    t_decode, c_decode = median_cost(lambda: decode_bound(lib, predictor.spec, cores), repeats)
    batch = np.zeros((16, 3, predictor.spec.input_size, predictor.spec.input_size), np.float32)
    aux = np.zeros((16, 9), np.float32)
    predictor.raw(batch, aux)  # warm-up
    rounds = max(1, n // 16)
    t_model, c_model = (x * n / (16 * rounds) for x in median_cost(lambda: [predictor.raw(batch, aux) for _ in range(rounds)], repeats))
    t_scan, c_scan = median_cost(lambda: scan_once(lib, model, db, 0, 16, True), repeats)
    slower = max(t_decode, t_model)
    print(f"2. full scan: {n / t_scan:.1f} photos/s   decode+preprocess alone ({cores} workers): {n / t_decode:.1f}/s   "
          f"model alone (batch 16): {n / t_model:.1f}/s   scan / slower bound = {slower / t_scan:.0%}")
    print(f"   CPU per photo: scan {1000 * c_scan / n:.1f} ms   decode+preprocess alone {1000 * c_decode / n:.1f} ms   "
          f"model alone {1000 * c_model / n:.1f} ms")
    if predictor.provider == "CPUExecutionProvider":  # decoding and the model share the same cores
        shared = t_decode + t_model
        print(f"   on the CPU both bounds need the same cores: their shared bound is {n / shared:.1f}/s, "
              f"scan / shared bound = {shared / t_scan:.0%}; in CPU time, {cores} cores / (decode + model) "
              f"= {cores * n / (c_decode + c_model):.1f}/s, scan / that = {(c_decode + c_model) / c_scan:.0%}")


def raw_row(lib: Path, spec: object, repeats: int, per_round: int = 20) -> None:
    """RAW preview extraction per second beside JPEG decode per second, on one core, from
    bytes in memory: what a RAW costs a decoding worker next to a JPEG."""
    if not RAW_SAMPLE.is_file():
        print(f"2b. RAW: skipped ({RAW_SAMPLE} is missing)")
        return
    raw, jpeg = RAW_SAMPLE.read_bytes(), next((lib / ".base").iterdir()).read_bytes()
    t_extract = median_time(lambda: [raw_preview(raw) for _ in range(per_round)], repeats) / per_round
    t_raw = median_time(lambda: [prepare(raw, spec, raw=True) for _ in range(per_round)], repeats) / per_round  # type: ignore[arg-type]
    t_jpeg = median_time(lambda: [prepare(jpeg, spec) for _ in range(per_round)], repeats) / per_round  # type: ignore[arg-type]
    print(f"2b. RAW, one core ({RAW_SAMPLE.name}, {len(raw) / 1e6:.1f} MB): preview extraction {1 / t_extract:.0f}/s, "
          f"extraction+decode+preprocess {1 / t_raw:.0f}/s   24 MP JPEG decode+preprocess: {1 / t_jpeg:.1f}/s")


def report(args: argparse.Namespace, work: Path, model: Path, predictor: Predictor, spec: object, cores: int) -> None:
    lib = build_library(work / "lib", args.photos, 20, (6000, 4000))
    n = args.photos
    size_mb = sum(p.stat().st_size for p in (lib / ".base").iterdir()) / 20 / 1e6
    print(f"library: {n} JPEGs of 6000x4000 (24 MP, ~{size_mb:.1f} MB each), FNumber/FocalLength removed")

    t_meta = median_time(lambda: metadata_pass(lib, cores), args.repeats)
    line = f"1. metadata pass: {n / t_meta:,.0f} files/s"
    if shutil.which("exiftool"):
        t_exif = median_time(lambda: subprocess.run(["exiftool", "-fast2", "-r", "-q", "-FNumber", "-FocalLength", str(lib)], stdout=subprocess.DEVNULL, check=False), args.repeats)
        line += f"   exiftool -fast2: {n / t_exif:,.0f} files/s   (phototag/exiftool = {t_exif / t_meta:.2f}x)"
    print(line)

    full_scan(lib, model, predictor, work / "bench.db", cores, n, args.repeats)
    raw_row(lib, spec, args.repeats)

    # a rescan only stats files, so what they hold does not matter: photos with lens EXIF
    # make the first (filling) scan a quick metadata pass
    big = build_library(work / "rescan", args.rescan_photos, 4, (640, 480), keep_lens=True)
    rdb = work / "rescan.db"
    scan_once(big, model, rdb, 0, 32, True)
    t_rescan = median_time(lambda: scan_once(big, model, rdb, 0, 32, False), args.repeats)
    print(f"3. rescan of {args.rescan_photos:,} unchanged files: {args.rescan_photos / t_rescan:,.0f} files/s")

    from tinymodel import build_tiny_model, tiny_spec

    tiny = build_tiny_model(work / "tiny.onnx", tiny_spec("bench-tiny", spec.input_size))  # type: ignore[attr-defined]
    for size in (int(s) for s in args.memory_sizes.split(",")):
        mem_lib = build_library(work / f"mem{size}", size, 4, (640, 480))
        main_mb, worker_mb = peak_memory_mb(mem_lib, tiny, work / f"mem{size}.db")
        print(f"4. peak memory, {size:,} photos: scanning process {main_mb:.0f} MB, largest worker {worker_mb:.0f} MB")

    scale_n = min(n, 64)
    small = build_library(work / "scale", scale_n, 20, (6000, 4000))
    for workers in range(1, cores + 1):
        t = median_time(lambda: scan_once(small, model, work / "s.db", workers, 16, True), args.repeats)
        print(f"5. --workers {workers} --batch-size 16: {scale_n / t:.1f} photos/s")
    for batch_size in (1, 8, 32, 64):
        t = median_time(lambda: scan_once(small, model, work / "s.db", 0, batch_size, True), args.repeats)
        print(f"5. --workers {cores} --batch-size {batch_size}: {scale_n / t:.1f} photos/s")


if __name__ == "__main__":
    main()
