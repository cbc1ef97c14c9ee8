"""Train the backbone's last blocks together with the heads (`phototag train --finetune`).

The heads first learn on cached features (train.fit); then the last N blocks and the head
conv train end to end with them at a low learning rate. The stem and earlier blocks stay
frozen, so their output maps are computed once per rendered variant, through the same
plans, renders and relabelling as the feature cache (so the inference-input path is the
one the heads saw), and only the tail runs each epoch. The maps (77 KB a row at 320 px)
live in a file in the caller's scratch folder, read a batch at a time, so memory does not
grow with the library; there must be room on disk for them. Batch norm stays in eval
mode: a few hundred photos would only drag ImageNet's statistics around.

A CPU does this, slowly (every epoch runs the tail on every training variant); CUDA is
used when torch sees it. The fine-tuned backbone's pooled features then replace the
cached ones, so calibration (train.fit) sees the logits of the network that is exported.
"""

from __future__ import annotations

import copy
import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..errors import TrainError
from ..modelspec import ModelSpec, default_spec
from ..registry import BACKBONE_SUFFIX
from .backbone import EfficientNetLite, load_backbone
from .features import FeatureSet, extract_to_file
from .heads import Heads, losses, penalty, targets
from .train import Prepared, TrainConfig

_Rows = tuple[np.ndarray, torch.Tensor, list[torch.Tensor]]  # map rows, body records, soft targets
_Batch = tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]
MAPS_FILE = "finetune-maps.npy"
SPARE_BYTES = 1 << 30  # left free on the disk after the maps: the models and the database need room too


@dataclass
class Finetuned:
    """The tuned network, the data with its features, and what validation said."""

    backbone: EfficientNetLite
    heads: Heads
    data: Prepared  # features from the tuned backbone: what calibration must see
    report: dict


def pick_device() -> torch.device:
    """CUDA when torch sees it; a CPU works too, only slower."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class _PrefixMaps:
    """Stands in for an Extractor: the frozen part's feature maps instead of pooled features.

    Eager torch keeps a few full-resolution activations of the whole batch alive at once
    (about 1.2 GB for 32 variants at 320 px), so the batch runs CHUNK images at a time.
    """

    CHUNK = 8

    def __init__(self, backbone: EfficientNetLite, start: int, device: torch.device) -> None:
        self.backbone, self.start, self.device = backbone, start, device

    def __call__(self, images: np.ndarray, aux: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return np.concatenate([
                self.backbone.stem_to(torch.from_numpy(images[i:i + self.CHUNK]).to(self.device), self.start)
                .cpu().numpy() for i in range(0, len(images), self.CHUNK)])


def finetune(backbone: EfficientNetLite, heads: Heads, data: Prepared, spec: ModelSpec, config: TrainConfig,
             folder: Path, progress: Callable[[int], None] | None = None) -> Finetuned:
    """Train blocks [end - N, end), the head conv and the heads; keep the best validation epoch.

    The frozen prefix's maps go to a file in `folder` while this runs, and are deleted after.
    """
    blocks = config.finetune.blocks
    if not 1 <= blocks <= backbone.num_blocks:
        raise ValueError(f"finetune blocks must be 1..{backbone.num_blocks}, not {blocks}")
    start = backbone.num_blocks - blocks
    device = pick_device()
    backbone, heads = copy.deepcopy(backbone).to(device).eval(), copy.deepcopy(heads).to(device)
    for p in backbone.parameters():
        p.requires_grad_(False)
    tail = [*backbone._blocks[start:], backbone._conv_head, backbone._bn1]
    for p in (q for module in tail for q in module.parameters()):
        p.requires_grad_(True)
    path = Path(folder) / MAPS_FILE
    check_room(path, len(data.features.photo) * map_bytes(backbone, start, config.input_size))
    try:
        maps = extract_to_file(data.photos, data.plans, default_spec("features", config.input_size),
                               _PrefixMaps(backbone, start, device), path, progress)
        if not np.array_equal(maps.photo, data.features.photo):
            raise RuntimeError("feature maps and cached features disagree on their rows")
        report = _train(backbone, start, heads, spec, maps, data, config, device)
        pooled = _pooled(backbone, start, maps, device)
    finally:
        path.unlink(missing_ok=True)
    report.update(blocks=blocks, device=device.type)
    tuned = replace(data, features=replace(maps, features=pooled))
    return Finetuned(backbone.cpu().eval(), heads.cpu().eval(), tuned, report)


def map_bytes(backbone: EfficientNetLite, start: int, size: int) -> int:
    """Bytes one row's frozen-prefix map takes (float32), from a real pass at this size."""
    with torch.no_grad():
        shape = backbone.stem_to(torch.zeros(1, 3, size, size, device=_device_of(backbone)), start).shape
    return int(np.prod(shape)) * 4


def check_room(path: Path, needed: int) -> None:
    """Refuse before hours of work when the maps would fill the disk (and leave SPARE_BYTES)."""
    free = shutil.disk_usage(path.parent).free
    if needed + SPARE_BYTES > free:
        raise TrainError(f"--finetune needs {needed / 1e9:.1f} GB free in {path.parent} for the backbone's "
                         f"feature maps while it trains, plus {SPARE_BYTES / 1e9:.1f} GB to spare; "
                         f"{free / 1e9:.1f} GB is free (set PHOTOTAG_HOME to a roomier disk, or train "
                         "without --finetune)")


def _device_of(module: torch.nn.Module) -> torch.device:
    return next(module.parameters()).device


def _train(backbone: EfficientNetLite, start: int, heads: Heads, spec: ModelSpec, maps: FeatureSet,
           data: Prepared, config: TrainConfig, device: torch.device) -> dict:
    """Mini-batch AdamW on the training variants, early stopping on the validation photos."""
    settings = config.finetune
    torch.manual_seed(settings.seed)
    train, val = (_rows(spec, maps, index, config) for index in (maps.indices(data.fitting),
                                                                 maps.indices(data.val, identity_only=True)))
    params = [p for p in [*backbone.parameters(), *heads.parameters()] if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=settings.lr, weight_decay=0.0)
    first = _val_loss(backbone, start, heads, maps.features, val, settings.batch, device)
    best = (first, -1, _snapshot(backbone, heads))
    epoch = -1
    for epoch in range(settings.epochs):
        heads.train()  # dropout on the features, as when the heads trained alone; BN stays in eval
        for index in torch.randperm(len(train[0])).split(settings.batch):
            features, aux, soft = _take(maps.features, train, index.numpy(), device)
            optimiser.zero_grad()
            loss = sum(losses(heads, (backbone.from_block(features, start), aux, soft)))
            (loss + config.heads.l2 * penalty(heads)).backward()
            optimiser.step()
        value = _val_loss(backbone, start, heads, maps.features, val, settings.batch, device)
        if value < best[0] - 1e-4:
            best = (value, epoch, _snapshot(backbone, heads))
        if epoch - best[1] >= settings.patience:
            break
    backbone.load_state_dict(best[2][0])
    heads.load_state_dict(best[2][1])
    heads.eval()
    return {"epochs_run": epoch + 1, "best_epoch": best[1], "val_loss_before": round(first, 4),
            "best_val_loss": round(best[0], 4)}


def _rows(spec: ModelSpec, maps: FeatureSet, index: np.ndarray, config: TrainConfig) -> _Rows:
    """Which map rows, with their body records and soft targets (small: kept in memory)."""
    labels = maps.labels(index)
    return index, torch.from_numpy(labels.aux), targets(spec, labels, config.heads)


def _take(features: np.ndarray, rows: _Rows, index: np.ndarray, device: torch.device) -> _Batch:
    """One batch: its maps read from the file, in the order of `index` (positions in `rows`)."""
    where, aux, soft = rows
    return _read(features, where[index], device), aux[index].to(device), [s[index].to(device) for s in soft]


def _read(features: np.ndarray, where: np.ndarray, device: torch.device) -> torch.Tensor:
    """These rows of the maps file, copied into memory (writable, as torch wants)."""
    return torch.from_numpy(np.array(features[where])).to(device)


def _val_loss(backbone: EfficientNetLite, start: int, heads: Heads, features: np.ndarray, val: _Rows, batch: int,
              device: torch.device) -> float:
    """The heads' own losses (summed over the targets) on the validation photos' inference inputs."""
    heads.eval()
    pooled = _pool(backbone, start, features, val[0], batch, device).to(device)
    with torch.no_grad():
        values = losses(heads, (pooled, val[1].to(device), [s.to(device) for s in val[2]]))
    return float(sum(float(v) for v in values))


def _pool(backbone: EfficientNetLite, start: int, features: np.ndarray, where: np.ndarray, batch: int,
          device: torch.device) -> torch.Tensor:
    """Pooled features of these map rows from the current tail, a batch at a time.

    Each batch lands in one tensor allocated up front: holding on to every batch's small
    output instead pins the heap between the large temporaries freed around it, and the
    process grew by 1.5 GB over 3,400 rows that way (bench/finetune_memory_bench.py, since removed).
    """
    out = torch.empty(len(where), backbone._conv_head.out_channels)
    with torch.no_grad():
        for i in range(0, len(where), batch):
            out[i:i + batch] = backbone.from_block(_read(features, where[i:i + batch], device), start).cpu()
    return out


def _pooled(backbone: EfficientNetLite, start: int, maps: FeatureSet, device: torch.device,
            batch: int = 64) -> np.ndarray:
    """Pooled features of every row from the tuned tail (the frozen prefix's maps are exact)."""
    return _pool(backbone, start, maps.features, np.arange(len(maps.features)), batch, device).numpy()


def _snapshot(backbone: EfficientNetLite, heads: Heads) -> tuple[dict, dict]:
    return copy.deepcopy(backbone.state_dict()), copy.deepcopy(heads.state_dict())


def save_backbone(backbone: EfficientNetLite, model: Path) -> Path:
    """Keep the tuned weights beside the model: the ONNX file holds them only with BN folded in."""
    path = model.with_suffix(BACKBONE_SUFFIX)
    torch.save(backbone.state_dict(), path)
    return path


def load_tuned_backbone(model: Path, variant: str) -> EfficientNetLite | None:
    """The backbone saved beside a fine-tuned model, or None when there is none."""
    path = model.with_suffix(BACKBONE_SUFFIX)
    if not path.is_file():
        return None
    backbone = load_backbone(variant)
    backbone.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    return backbone.eval()

