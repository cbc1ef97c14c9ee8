"""Would an int8 copy of the model pay? Its speed alone, and how far its answers move.

Run: .venv/bin/python bench/quantize_bench.py                 (about 5 minutes on 2 cores)
     .venv/bin/python bench/quantize_bench.py --out /tmp/q    (keep the int8 copies)

Writes int8 copies of the model (default: the shipped one, never overwritten) to --out,
calibrated on the `train` photos of ../shared/data/photos/index.tsv, then compares each
copy with the float model on the `dev-only` photos: the model alone in photos/s and CPU ms per
photo (medians, float and int8 runs interleaved), the share of photos whose most likely
bin is the same, how far the point estimates move (FNumber in stops, focal length in %),
how far the confidences move, and the FNumber-within-one-stop / focal-within-20% hit
rates of both against the photos' own EXIF. For scale, the float model's answers on the
same photos moved by at most one grey level per pixel are compared the same way.
"""

from __future__ import annotations

import argparse
import math
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import onnx

from photo_tagger.analyse import Analysed, Task, analyse
from photo_tagger.estimate import Estimate
from photo_tagger.infer import Predictor
from photo_tagger.modelspec import INPUT_AUX, INPUT_IMAGE, ModelSpec
from photo_tagger.preprocess import normalise
from photo_tagger.registry import default_model

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT.parent / "shared" / "data" / "photos"


def photos_for(use: str) -> list[Path]:
    """The photos of index.tsv with this `use` (train, dev-only, ...)."""
    rows = [line.split("\t") for line in (PHOTOS / "index.tsv").read_text().splitlines()[1:]]
    return [PHOTOS / row[0] for row in rows if len(row) > 3 and row[3] == use]


def model_inputs(paths: Sequence[Path], spec: ModelSpec) -> tuple[np.ndarray, np.ndarray, list[Analysed]]:
    """Normalised images, aux vectors and the analyses of the photos the scan would predict."""
    done = [analyse(Task(str(p), 0, 0, predict_if_labeled=True), spec) for p in paths]
    done = [a for a in done if a.pixels is not None and a.aux is not None]
    return normalise(np.stack([a.pixels for a in done]), spec), np.stack([a.aux for a in done]), done  # type: ignore[misc]


def quantize_model(source: Path, target: Path, calibration: Sequence[Path], fmt: str = "qdq", ends_float: bool = True) -> Path:
    """An int8 copy of a phototag model: static quantization of the backbone (convolutions,
    their ReLU6 and residual adds; weights per channel), calibrated (min/max) on the given
    photos. The heads stay float, and so, with ends_float, do the first convolution (it
    sees the raw pixels) and the last (the features the heads read). The spec is kept."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    spec = Predictor(source, "cpu").spec
    images, aux, _ = model_inputs(calibration, spec)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.rows: Iterator[int] = iter(range(len(images)))

        def get_next(self) -> dict[str, np.ndarray] | None:
            i = next(self.rows, None)
            return None if i is None else {INPUT_IMAGE: images[i:i + 1], INPUT_AUX: aux[i:i + 1]}

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        convs = [node.name for node in onnx.load(str(prepared)).graph.node if node.op_type == "Conv"]
        quantize_static(
            str(prepared), str(target), Reader(),
            quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
            op_types_to_quantize=["Conv", "Clip", "Add"], per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            nodes_to_exclude=[convs[0], convs[-1]] if ends_float else [],
        )
    _copy_metadata(source, target)
    return target


def quantize_weights_only(source: Path, target: Path) -> Path:
    """onnxruntime's dynamic quantization (weights int8, activations quantized at run time)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        model = onnx.load(str(source))
        del model.graph.value_info[:]  # the quantizer's shape check trips on the exporter's
        onnx.save(model, str(prepared))
        quantize_dynamic(str(prepared), str(target), weight_type=QuantType.QInt8)
    _copy_metadata(source, target)
    return target


def _copy_metadata(source: Path, target: Path) -> None:
    """quantize_* drop the model's metadata, where phototag keeps its spec."""
    original, quantized = onnx.load(str(source)), onnx.load(str(target))
    del quantized.metadata_props[:]
    quantized.metadata_props.extend(original.metadata_props)
    onnx.save(quantized, str(target))


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def speeds(predictors: dict[str, Predictor], images: np.ndarray, aux: np.ndarray, repeats: int) -> dict[str, tuple[float, float]]:
    """Model alone on batches of 16: median photos/s and CPU ms per photo, runs interleaved."""
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in predictors}
    batches = [(images[i:i + 16], aux[i:i + 16]) for i in range(0, len(images), 16)]
    for predictor in predictors.values():
        predictor.raw(*batches[0])  # warm-up
    for _ in range(repeats):
        for name, predictor in predictors.items():
            cpu, start = _cpu_seconds(), time.perf_counter()
            for batch in batches:
                predictor.raw(*batch)
            wall, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
            runs[name].append((len(images) / wall, cpu / len(images) * 1000))
    return {name: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs)) for name, rs in runs.items()}


def agreement(reference: Predictor, other: Predictor, images: np.ndarray, aux: np.ndarray, other_images: np.ndarray | None = None) -> dict[str, float]:
    """How far `other`'s answers (on other_images, default the same) are from `reference`'s."""
    seen = images if other_images is None else other_images
    raw_a, raw_b = reference.raw(images, aux), other.raw(seen, aux)
    est_a, est_b = reference.predict(images, aux), other.predict(seen, aux)
    out = {f"same top bin {name.split('_')[0]}": float(np.mean(raw_a[name].argmax(1) == raw_b[name].argmax(1))) for name in raw_a}
    stops = [abs(2 * math.log2(b.fnumber / a.fnumber)) for a, b in zip(est_a, est_b)]
    focal = [abs(b.focal_length_35mm / a.focal_length_35mm - 1) * 100 for a, b in zip(est_a, est_b)]
    out.update({
        "same FNumber estimate": float(np.mean([a.fnumber == b.fnumber for a, b in zip(est_a, est_b)])),
        "FNumber moved, median / max (stops)": (statistics.median(stops), max(stops)),  # type: ignore[dict-item]
        "same focal estimate": float(np.mean([a.focal_length_35mm == b.focal_length_35mm for a, b in zip(est_a, est_b)])),
        "focal moved, median / max (%)": (statistics.median(focal), max(focal)),  # type: ignore[dict-item]
        "FNumber confidence moved, mean / max": _moved([a.fnumber_confidence for a in est_a], [b.fnumber_confidence for b in est_b]),  # type: ignore[dict-item]
        "focal confidence moved, mean / max": _moved([a.focal_length_confidence for a in est_a], [b.focal_length_confidence for b in est_b]),  # type: ignore[dict-item]
    })
    return out


def _moved(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    diff = np.abs(np.asarray(a) - np.asarray(b))
    return float(diff.mean()), float(diff.max())


def hit_rates(estimates: Sequence[Estimate], analysed: Sequence[Analysed]) -> tuple[float, float, int, int]:
    """FNumber within one stop and 35 mm focal within 20% of the photos' EXIF, and their counts."""
    f_hits, l_hits = [], []
    for est, item in zip(estimates, analysed):
        meta, crop = item.meta, item.crop
        if meta and meta.fnumber:
            f_hits.append(abs(2 * math.log2(est.fnumber / meta.fnumber)) <= 1)
        truth = (meta.focal_length_35mm or (meta.focal_length * crop.value if meta.focal_length and crop else None)) if meta else None
        if truth:
            l_hits.append(abs(est.focal_length_35mm / truth - 1) <= 0.2)
    return float(np.mean(f_hits)), float(np.mean(l_hits)), len(f_hits), len(l_hits)


def noisy(analysed: Sequence[Analysed], spec: ModelSpec) -> np.ndarray:
    """The same photos, each pixel moved by at most one grey level: an invisible change,
    to show how much the float model's own answers move on their own."""
    pixels = np.stack([a.pixels for a in analysed]).astype(np.int16)  # type: ignore[misc]
    moved = pixels + np.random.default_rng(0).integers(-1, 2, pixels.shape)
    return normalise(np.clip(moved, 0, 255).astype(np.uint8), spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=None, help="default: the model scan would use")
    parser.add_argument("--out", type=Path, default=None, help="folder for the int8 copies (default: a temporary one)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    source = args.model or default_model().path
    out = args.out or Path(tempfile.mkdtemp(prefix="phototag-int8-"))
    out.mkdir(parents=True, exist_ok=True)
    calibration = photos_for("train")
    copies = {
        "int8 QDQ, ends float": quantize_model(source, out / "int8-qdq.onnx", calibration),
        "int8 QDQ, all convs": quantize_model(source, out / "int8-qdq-all.onnx", calibration, ends_float=False),
        "int8 QOperator, ends float": quantize_model(source, out / "int8-qop.onnx", calibration, fmt="qoperator"),
        "int8 dynamic (weights)": quantize_weights_only(source, out / "int8-dynamic.onnx"),
    }
    reference = Predictor(source, "cpu")
    images, aux, analysed = model_inputs(photos_for("dev-only"), reference.spec)
    predictors = {"float32 (shipped)": reference} | {name: Predictor(path, "cpu") for name, path in copies.items()}
    print(f"model {source.name}; calibrated on {len(calibration)} train photos; compared on {len(images)} dev-only photos; copies in {out}")
    for name, (rate, cpu_ms) in speeds(predictors, images, aux, args.repeats).items():
        f_rate, l_rate, nf, nl = hit_rates(predictors[name].predict(images, aux), analysed)
        size = predictors[name].model_path.stat().st_size / 1e6
        print(f"{name:28s} {size:5.1f} MB  {rate:6.1f} photos/s  {cpu_ms:5.2f} CPU ms/photo  "
              f"FNumber within 1 stop {f_rate:.1%} (n={nf})  focal within 20% {l_rate:.1%} (n={nl})")
    shaken = noisy(analysed, reference.spec)
    comparisons = [("float32 on pixels moved by <=1 grey level", reference, shaken)]
    comparisons += [(name, predictor, None) for name, predictor in list(predictors.items())[1:]]
    for name, predictor, seen in comparisons:
        print(f"{name} vs float32:")
        for what, value in agreement(reference, predictor, images, aux, seen).items():
            shown = f"{value:.1%}" if isinstance(value, float) else " / ".join(f"{v:.3f}" for v in value)
            print(f"   {what}: {shown}")


if __name__ == "__main__":
    sys.exit(main())
