"""Train the backbone's last blocks together with the heads (`phototag train --finetune`).

The heads first learn on cached features (train.fit); then the last N blocks and the head
conv train end to end with them at a low learning rate. The stem and earlier blocks stay
frozen, so their output maps are computed once per rendered variant, through `extract`
with the same plans, renders and relabelling as the feature cache (so the inference-input
path is the one the heads saw), and only the tail runs each epoch. Batch norm stays in
eval mode: a few hundred photos would only drag ImageNet's statistics around.

A CPU does this, slowly (every epoch runs the tail on every training variant); CUDA is
used when torch sees it. The fine-tuned backbone's pooled features then replace the
cached ones, so calibration (train.fit) sees the logits of the network that is exported.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from ..modelspec import ModelSpec, default_spec
from ..registry import BACKBONE_SUFFIX
from .backbone import EfficientNetLite, load_backbone
from .features import FeatureSet, extract
from .heads import Heads, losses, penalty, targets
from .train import Prepared, TrainConfig

_Batch = tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]


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
    """Stands in for an Extractor: the frozen part's feature maps instead of pooled features."""

    def __init__(self, backbone: EfficientNetLite, start: int, device: torch.device) -> None:
        self.backbone, self.start, self.device = backbone, start, device

    def __call__(self, images: np.ndarray, aux: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.backbone.stem_to(torch.from_numpy(images).to(self.device), self.start).cpu().numpy()


def finetune(backbone: EfficientNetLite, heads: Heads, data: Prepared, spec: ModelSpec, config: TrainConfig,
             progress: Callable[[int], None] | None = None) -> Finetuned:
    """Train blocks [end - N, end), the head conv and the heads; keep the best validation epoch."""
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
    maps = extract(data.photos, data.plans, default_spec("features", config.input_size),
                   _PrefixMaps(backbone, start, device), None, progress)
    if not np.array_equal(maps.photo, data.features.photo):
        raise RuntimeError("feature maps and cached features disagree on their rows")
    report = _train(backbone, start, heads, spec, maps, data, config, device)
    report.update(blocks=blocks, device=device.type)
    pooled = _pooled(backbone, start, maps, device)
    tuned = replace(data, features=replace(maps, features=pooled))
    return Finetuned(backbone.cpu().eval(), heads.cpu().eval(), tuned, report)


def _train(backbone: EfficientNetLite, start: int, heads: Heads, spec: ModelSpec, maps: FeatureSet,
           data: Prepared, config: TrainConfig, device: torch.device) -> dict:
    """Mini-batch AdamW on the training variants, early stopping on the validation photos."""
    settings = config.finetune
    torch.manual_seed(settings.seed)
    train, val = (_tensors(spec, rows, config) for rows in (maps.rows(data.fitting),
                                                               maps.rows(data.val, identity_only=True)))
    params = [p for p in [*backbone.parameters(), *heads.parameters()] if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=settings.lr, weight_decay=0.0)
    first = _val_loss(backbone, start, heads, val, settings.batch, device)
    best = (first, -1, _snapshot(backbone, heads))
    epoch = -1
    for epoch in range(settings.epochs):
        heads.train()  # dropout on the features, as when the heads trained alone; BN stays in eval
        for index in torch.randperm(len(train[1])).split(settings.batch):
            features, aux, soft = _take(train, index, device)
            optimiser.zero_grad()
            loss = sum(losses(heads, (backbone.from_block(features, start), aux, soft)))
            (loss + config.heads.l2 * penalty(heads)).backward()
            optimiser.step()
        value = _val_loss(backbone, start, heads, val, settings.batch, device)
        if value < best[0] - 1e-4:
            best = (value, epoch, _snapshot(backbone, heads))
        if epoch - best[1] >= settings.patience:
            break
    backbone.load_state_dict(best[2][0])
    heads.load_state_dict(best[2][1])
    heads.eval()
    return {"epochs_run": epoch + 1, "best_epoch": best[1], "val_loss_before": round(first, 4),
            "best_val_loss": round(best[0], 4)}


def _tensors(spec: ModelSpec, rows: FeatureSet, config: TrainConfig) -> _Batch:
    return torch.from_numpy(rows.features), torch.from_numpy(rows.aux), targets(spec, rows, config.heads)


def _take(data: _Batch, index: torch.Tensor, device: torch.device) -> _Batch:
    maps, aux, soft = data
    return maps[index].to(device), aux[index].to(device), [s[index].to(device) for s in soft]


def _val_loss(backbone: EfficientNetLite, start: int, heads: Heads, val: _Batch, batch: int,
              device: torch.device) -> float:
    """The heads' own losses (summed over the targets) on the validation photos' inference inputs."""
    heads.eval()
    with torch.no_grad():
        pooled = torch.cat([backbone.from_block(val[0][i:i + batch].to(device), start)
                            for i in range(0, len(val[0]), batch)])
        values = losses(heads, (pooled, val[1].to(device), [s.to(device) for s in val[2]]))
    return float(sum(float(v) for v in values))


def _pooled(backbone: EfficientNetLite, start: int, maps: FeatureSet, device: torch.device,
            batch: int = 64) -> np.ndarray:
    """Pooled features of every row from the tuned tail (the frozen prefix's maps are exact)."""
    with torch.no_grad():
        parts = [backbone.from_block(torch.from_numpy(maps.features[i:i + batch]).to(device), start).cpu().numpy()
                 for i in range(0, len(maps.features), batch)]
    return np.concatenate(parts).astype(np.float32)


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

