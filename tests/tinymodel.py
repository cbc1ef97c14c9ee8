"""A tiny but real ONNX model with the same inputs, outputs and metadata as shipped ones.

Its logits depend on the image's mean colour and on the auxiliary inputs, so tests can
tell photos apart and a broken pipeline changes the numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from photo_tagger.modelspec import (
    AUX_FEATURES,
    INPUT_AUX,
    INPUT_IMAGE,
    OUTPUT_EV100,
    OUTPUT_FNUMBER,
    OUTPUT_FOCAL35,
    SPEC_KEY,
    ModelSpec,
    default_spec,
)


def tiny_spec(version: str = "tiny-1", input_size: int = 32) -> ModelSpec:
    return default_spec(version, input_size)


def build_tiny_model(path: Path, spec: ModelSpec | None = None, seed: int = 0) -> Path:
    """Write the model to path: global average pool, concat aux, three linear heads."""
    spec = spec or tiny_spec()
    rng = np.random.default_rng(seed)
    width = 3 + len(AUX_FEATURES)
    inits, nodes, outputs = [], [], []
    nodes.append(helper.make_node("ReduceMean", [INPUT_IMAGE, "axes"], ["pooled4"], keepdims=1))
    inits.append(numpy_helper.from_array(np.array([2, 3], dtype=np.int64), "axes"))
    nodes.append(helper.make_node("Flatten", ["pooled4"], ["flat"], axis=1))
    # amplify the image so small colour differences between test photos move the logits
    nodes.append(helper.make_node("Mul", ["flat", "gain"], ["pooled"]))
    inits.append(numpy_helper.from_array(np.array(4.0, dtype=np.float32), "gain"))
    nodes.append(helper.make_node("Concat", ["pooled", INPUT_AUX], ["joined"], axis=1))
    for name, bins in ((OUTPUT_FNUMBER, spec.fnumber_bins), (OUTPUT_FOCAL35, spec.focal35_bins), (OUTPUT_EV100, spec.ev100_bins)):
        weight = rng.normal(0, 1.0, size=(width, len(bins))).astype(np.float32)
        weight[3:] *= 0.1  # the auxiliary inputs nudge, the image decides
        bias = rng.normal(0, 0.5, size=(len(bins),)).astype(np.float32)
        inits += [numpy_helper.from_array(weight, f"{name}_w"), numpy_helper.from_array(bias, f"{name}_b")]
        nodes.append(helper.make_node("Gemm", ["joined", f"{name}_w", f"{name}_b"], [name]))
        outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", len(bins)]))
    size = spec.input_size
    graph = helper.make_graph(
        nodes,
        "phototag-tiny",
        [
            helper.make_tensor_value_info(INPUT_IMAGE, TensorProto.FLOAT, ["batch", 3, size, size]),
            helper.make_tensor_value_info(INPUT_AUX, TensorProto.FLOAT, ["batch", len(AUX_FEATURES)]),
        ],
        outputs,
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    helper.set_model_props(model, {SPEC_KEY: spec.to_json()})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
