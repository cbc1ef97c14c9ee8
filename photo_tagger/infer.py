"""Own the onnxruntime session: choose the device, read the spec, run batches.

Execution providers are an ordered preference intersected with what is available, then
verified on the live session: onnxruntime-gpu silently falls back to the CPU otherwise.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import DeviceUnavailable, ModelError
from .estimate import Estimate, LensConstraint, estimate
from .modelspec import (
    INPUT_AUX,
    INPUT_IMAGE,
    OUTPUT_EV100,
    OUTPUT_FNUMBER,
    OUTPUT_FOCAL35,
    SPEC_KEY,
    ModelSpec,
)

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
_CUDA = "CUDAExecutionProvider"
_CPU = "CPUExecutionProvider"


def _quiet_onnxruntime(ort) -> None:  # type: ignore[no-untyped-def]
    """onnxruntime writes warnings (e.g. a failed CUDA load) to stderr; keep them for debug logs."""
    ort.set_default_logger_severity(4 if not log.isEnabledFor(logging.DEBUG) else 2)


# On the CPU a batch goes through the model this many photos at a time: one 320 px
# photo's activations stay in the cache, 16 at once cost about a third more CPU per photo
# (same outputs, bit for bit). The GPU gets the whole batch.
CPU_CHUNK = 1


def _session_options(ort):  # type: ignore[no-untyped-def]
    """One intra-op thread per core, sleeping when idle: the model shares the cores with the
    decoding workers, and threads that spin between operators burn the CPU those need."""
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = os.cpu_count() or 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


class Predictor:
    """An ONNX model plus its spec, on the device that really loaded."""

    def __init__(self, model_path: Path, device: str = "auto") -> None:
        if device not in DEVICES:
            raise DeviceUnavailable(f"unknown device {device!r}; choose auto, cpu or cuda")
        import onnxruntime as ort

        _quiet_onnxruntime(ort)
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise ModelError(f"model file {self.model_path} does not exist")
        available = ort.get_available_providers()
        wanted = [_CPU] if device == "cpu" else [_CUDA, _CPU]
        if device == "cuda" and _CUDA not in available:
            raise DeviceUnavailable(
                "CUDA was requested but this onnxruntime build has no CUDA provider "
                "(install onnxruntime-gpu)"
            )
        providers = [p for p in wanted if p in available]
        try:
            self.session = ort.InferenceSession(
                str(self.model_path), sess_options=_session_options(ort), providers=providers
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"model {self.model_path.name} could not be loaded: {exc}") from exc
        self.providers = list(self.session.get_providers())
        if device == "cuda" and _CUDA not in self.providers:
            raise DeviceUnavailable(
                "CUDA was requested but onnxruntime could not load it (no NVIDIA driver, or "
                "CUDA/cuDNN libraries missing); use --device cpu or auto"
            )
        self.provider = self.providers[0]
        self.spec = read_spec(self.session)
        self._check_io()
        log.debug("model %s on %s", self.spec.model_version, self.providers)

    @property
    def device_name(self) -> str:
        return "cuda" if self.provider == _CUDA else "cpu"

    def _check_io(self) -> None:
        inputs = {i.name for i in self.session.get_inputs()}
        outputs = {o.name for o in self.session.get_outputs()}
        missing = ({INPUT_IMAGE, INPUT_AUX} - inputs) | (
            {OUTPUT_FNUMBER, OUTPUT_FOCAL35, OUTPUT_EV100} - outputs
        )
        if missing:
            raise ModelError(f"model lacks the inputs/outputs phototag needs: {sorted(missing)}")

    def raw(self, images: np.ndarray, aux: np.ndarray) -> dict[str, np.ndarray]:
        """The model's logits for a batch (on the CPU, run CPU_CHUNK photos at a time)."""
        names = [OUTPUT_FNUMBER, OUTPUT_FOCAL35, OUTPUT_EV100]
        step = CPU_CHUNK if self.provider == _CPU else len(images)
        if len(images) <= step:
            return dict(zip(names, self.session.run(names, {INPUT_IMAGE: images, INPUT_AUX: aux})))
        parts = [
            self.session.run(names, {INPUT_IMAGE: images[i:i + step], INPUT_AUX: aux[i:i + step]})
            for i in range(0, len(images), step)
        ]
        return {name: np.concatenate([part[k] for part in parts]) for k, name in enumerate(names)}

    def predict(self, images: np.ndarray, aux: np.ndarray, constraints: Sequence[Sequence[LensConstraint]] | None = None) -> list[Estimate]:
        """Estimates for a batch of preprocessed images and their auxiliary vectors.

        constraints: each row's candidate lenses, if any (see estimate.LensConstraint).
        """
        return estimate(self.spec, self.raw(images, aux), aux, constraints=constraints)


def read_spec(session) -> ModelSpec:  # type: ignore[no-untyped-def]
    """The spec stored in the model's metadata; a model without one is not ours."""
    props = session.get_modelmeta().custom_metadata_map
    if SPEC_KEY not in props:
        raise ModelError("model has no phototag metadata; was it exported by `phototag train`?")
    return ModelSpec.from_json(props[SPEC_KEY])
