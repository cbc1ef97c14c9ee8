"""What the scan's speed work must not change: the model's input and its outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from photo_tagger import infer
from photo_tagger.infer import Predictor
from photo_tagger.modelspec import INPUT_AUX, INPUT_IMAGE, OUTPUT_EV100, OUTPUT_FNUMBER, OUTPUT_FOCAL35
from photo_tagger.preprocess import normalise


def test_normalise_is_the_plain_formula_bit_for_bit() -> None:
    class Spec:
        mean, std = (123.7, 116.3, 103.5), (58.4, 57.1, 57.4)

    pixels = np.random.default_rng(0).integers(0, 256, (3, 8, 6, 3), dtype=np.uint8)
    plain = (pixels.astype(np.float32) - np.asarray(Spec.mean, np.float32)) / np.asarray(Spec.std, np.float32)
    expected = np.ascontiguousarray(np.moveaxis(plain, -1, -3))
    for got, want in ((normalise(pixels, Spec), expected), (normalise(pixels[0], Spec), expected[0])):  # type: ignore[arg-type]
        assert got.dtype == np.float32 and got.flags.c_contiguous
        assert got.tobytes() == want.tobytes()


def test_a_batch_run_in_cpu_chunks_gives_the_whole_batch_outputs(tiny_model: Path) -> None:
    predictor = Predictor(tiny_model, "cpu")
    size = predictor.spec.input_size
    rng = np.random.default_rng(1)
    images = rng.standard_normal((5, 3, size, size)).astype(np.float32)
    aux = rng.standard_normal((5, 9)).astype(np.float32)
    names = [OUTPUT_FNUMBER, OUTPUT_FOCAL35, OUTPUT_EV100]
    whole = predictor.session.run(names, {INPUT_IMAGE: images, INPUT_AUX: aux})
    assert infer.CPU_CHUNK < len(images)
    chunked = predictor.raw(images, aux)
    for name, want in zip(names, whole):
        assert chunked[name].shape == want.shape
        assert np.allclose(chunked[name], want, rtol=0, atol=1e-6)
    assert {k: v.shape for k, v in predictor.raw(images[:0], aux[:0]).items()} == {n: (0,) + w.shape[1:] for n, w in zip(names, whole)}
