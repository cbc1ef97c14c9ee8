"""Stitch the pretrained backbone and trained heads into one ONNX file with its spec.

The file also outputs the pooled `features`, so self-calibration can compute features
with an installed model through onnxruntime and retrain only the heads. Self-calibration
rebuilds the torch model (backbone from the weights package + new heads) and exports
again, rather than editing the ONNX graph.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..modelspec import (INPUT_AUX, INPUT_IMAGE, OUTPUT_EV100, OUTPUT_FNUMBER, OUTPUT_FOCAL35, SEEN_KEY, SPEC_KEY,
                         ModelSpec)
from .backbone import quiet_export
from .features import FEATURES_OUTPUT
from .heads import HeadEnsemble, Heads

OUTPUTS = (OUTPUT_FNUMBER, OUTPUT_FOCAL35, OUTPUT_EV100, FEATURES_OUTPUT)
HEAD_PREFIX = "heads."
TOLERANCE = 1e-3


def fingerprint(module: nn.Module, spec: ModelSpec) -> str:
    """Eight hex digits that change whenever the weights (the module's: the heads, or the
    whole network) or the calibration do.

    A scan redoes a photo only when the model version differs from the one that predicted
    it, so a rebuilt model must not reuse its predecessor's version; an identical rebuild
    gets the same fingerprint.
    """
    digest = hashlib.sha256(spec.to_json().encode())
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().numpy().tobytes())
    return digest.hexdigest()[:8]


class ExportError(RuntimeError):
    """The exported ONNX file disagrees with the torch model it came from."""


class PhototagNet(nn.Module):
    """Image + body records in; three bin-logit vectors and the pooled features out."""

    def __init__(self, backbone: nn.Module, heads: Heads | HeadEnsemble) -> None:
        super().__init__()
        self.backbone = backbone
        self.heads = heads

    def forward(self, image: torch.Tensor, aux: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = self.backbone.features(image)
        return (*self.heads(features, aux), features)


def export(net: PhototagNet, spec: ModelSpec, path: Path, seen: Iterable[str] = ()) -> None:
    """ONNX with a dynamic batch axis; the spec travels in the file's metadata (and the
    shots it learned from, when given: see stamp)."""
    net.eval()
    size = spec.input_size
    example = (torch.zeros(2, 3, size, size), torch.zeros(2, len(spec.aux_features)))
    batch = torch.export.Dim("batch")
    path.parent.mkdir(parents=True, exist_ok=True)
    with quiet_export():
        torch.onnx.export(
            net, example, str(path), input_names=[INPUT_IMAGE, INPUT_AUX], output_names=list(OUTPUTS),
            dynamic_shapes=({0: batch}, {0: batch}), opset_version=18, dynamo=True,
            external_data=False, verbose=False,
        )
    stamp(path, spec, seen)


def stamp(path: Path, spec: ModelSpec, seen: Iterable[str] = ()) -> None:
    """Write (or replace) the spec in an exported file's metadata, and the shots the model
    learned from (split.shot_id), so that adapting it later never tests on one of them;
    without seen, the shots the file already names stay."""
    import onnx

    proto = onnx.load(str(path))
    replaced = {SPEC_KEY, SEEN_KEY} if seen else {SPEC_KEY}
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key not in replaced]
    del proto.metadata_props[:]
    for key, value in [*kept, (SPEC_KEY, spec.to_json())]:
        proto.metadata_props.add(key=key, value=value)
    if seen:
        proto.metadata_props.add(key=SEEN_KEY, value=",".join(sorted(set(seen))))
    onnx.save(proto, str(path))


def metadata(path: Path) -> dict[str, str]:
    """A model file's metadata properties (spec, seen shots), without its weights' data."""
    import onnx

    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


def seen_shots(path: Path, props: dict[str, str] | None = None) -> frozenset[str]:
    """The shots a model file learned from; empty for a file that does not say (the
    shipped model learned from public photos, not from anyone's library). props: its
    metadata, where the caller read it already."""
    props = metadata(path) if props is None else props
    return frozenset(filter(None, props.get(SEEN_KEY, "").split(",")))


def check(net: PhototagNet, path: Path, images: np.ndarray, aux: np.ndarray) -> float:
    """Largest |onnxruntime - torch| over all outputs on a real batch; raises past TOLERANCE."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(list(OUTPUTS), {INPUT_IMAGE: images, INPUT_AUX: aux})
    net.eval()
    with torch.no_grad():
        want = net(torch.from_numpy(images), torch.from_numpy(aux))
    worst = max(float(np.abs(g - w.numpy()).max()) for g, w in zip(got, want))
    if not worst <= TOLERANCE:
        raise ExportError(f"onnxruntime and torch disagree by {worst:.2g} on {path.name}")
    return worst


def head_members(path: Path) -> int:
    """How many ensemble members an exported file's heads have (1: plain Heads)."""
    import onnx

    names = [i.name for i in onnx.load(str(path)).graph.initializer]
    prefix = HEAD_PREFIX + "members."
    return len({n[len(prefix):].split(".")[0] for n in names if n.startswith(prefix)}) or 1


# Buffers added after models were shipped; absent from an older file, their default (all ones,
# every input used) is what that file's network did.
DEFAULTED = {"ev_aux_mask"}


def heads_from_onnx(path: Path, template: Heads | HeadEnsemble) -> Heads | HeadEnsemble:
    """Load the heads' weights from an exported file's initializers (to adapt, not start over)."""
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(path))
    found = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    state = {}
    for name, value in template.state_dict().items():
        array = found.get(HEAD_PREFIX + name)
        if array is None:
            array = _deduplicated(found, name)
        if array is None and name.rsplit(".", 1)[-1] in DEFAULTED:
            array = value.numpy()  # a file from before the buffer existed: the behaviour it had
        if array is None or tuple(array.shape) != tuple(value.shape):
            raise KeyError(f"{path.name} has no head weight {HEAD_PREFIX + name} of shape {tuple(value.shape)}")
        state[name] = torch.from_numpy(array.copy())
    template.load_state_dict(state)
    return template.eval()


def _deduplicated(found: dict[str, np.ndarray], name: str) -> np.ndarray | None:
    """An ensemble member's tensor the exporter merged into another member's identical one
    (the crop-input mask is the same in all of them). Only unambiguous: every member's
    tensor of that name that survived must be equal, else None."""
    if not name.startswith("members."):
        return None
    suffix = name.split(".", 2)[2]
    prefix = HEAD_PREFIX + "members."
    same = [v for k, v in found.items() if k.startswith(prefix) and k.split(".", 3)[3] == suffix]
    if not same or any(v.shape != same[0].shape or not np.array_equal(v, same[0]) for v in same[1:]):
        return None
    return same[0]
