"""The trainable part: three softmax heads over [backbone features, body records].

Targets are smoothed toward neighbouring bins (a Gaussian in log space), so the heads learn
that f/4 is closer to f/4.5 than to f/16 and their distributions come out smooth.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..equivalent import dof_bins, dof_labels
from ..modelspec import AUX_FEATURES, ModelSpec
from .features import FeatureSet

TARGETS = ("fnumber", "focal35", "ev100")
# A full-batch step costs time in proportion to the rows, and early stopping wants a few
# hundred steps: past this many rows (a library of about 800 photos and their crops),
# the heads take several steps per pass, so a large library needs fewer passes.
BATCH_ROWS = 4096


@dataclass(frozen=True)
class HeadConfig:
    """Optimisation settings for the heads (saved with every model)."""

    epochs: int = 600
    lr: float = 3e-3
    weight_decay: float = 1e-2  # unused since the l2 penalty replaced it; kept so saved configs load
    dropout: float = 0.2
    l2: float = 0.3  # penalty on head weights: a few hundred photos overfit 1289 inputs fast
    patience: int = 40
    sigma_fnumber: float = 0.2  # in stops of log2(N^2), i.e. log2 N * 2
    sigma_focal35: float = 0.12  # natural log
    sigma_ev100: float = 0.6  # EV
    use_crop_input: bool = True
    # False: the EV100 head does not see exposure time or ISO. With them it can read the scene's
    # EV off the settings by assuming the training photos' typical aperture, and the exposure
    # route then returns that assumption (an iPhone 7 at ISO 25 came out f/3.5 for f/1.8).
    ev_exposure_inputs: bool = True
    # >0: the EV100 head also learns from this many copies of each training row with the
    # aperture redrawn (log-uniform over APERTURE_COPY_RANGE) and the exposure time moved to
    # keep the exposure: the same pixels, the same light. Without them, phones' fixed apertures
    # teach the head that the settings alone tell the light (assuming f/1.8), which no
    # interchangeable lens obeys; the copies' FNumber and focal labels are left empty.
    aperture_copies: int = 0
    # >0: adapting (train_heads given init) pulls the weights toward init's, not zero, and
    # more strongly below this many photos (anchor_strength)
    anchor_photos: int = 0
    seed: int = 0


class Heads(nn.Module):
    """Standardise the features, concatenate the aux inputs, one linear layer per target."""

    def __init__(self, feat_dim: int, aux_dim: int, sizes: dict[str, int], dropout: float = 0.3) -> None:
        super().__init__()
        self.register_buffer("feat_mean", torch.zeros(feat_dim))
        self.register_buffer("feat_std", torch.ones(feat_dim))
        self.register_buffer("aux_mean", torch.zeros(aux_dim))
        self.register_buffer("aux_std", torch.ones(aux_dim))
        self.register_buffer("aux_mask", torch.ones(aux_dim))
        self.register_buffer("ev_aux_mask", torch.ones(aux_dim))  # the EV100 head's own inputs
        self.dropout = nn.Dropout(dropout)
        self.fnumber = nn.Linear(feat_dim + aux_dim, sizes["fnumber"])
        self.focal35 = nn.Linear(feat_dim + aux_dim, sizes["focal35"])
        self.ev100 = nn.Linear(feat_dim + aux_dim, sizes["ev100"])

    def forward(self, features: torch.Tensor, aux: torch.Tensor) -> tuple[torch.Tensor, ...]:
        # dropout on the image features only: the body's records are few and always reliable
        image = self.dropout((features - self.feat_mean) / self.feat_std)
        body = (aux - self.aux_mean) / self.aux_std * self.aux_mask
        x = torch.cat([image, body], dim=1)
        return self.fnumber(x), self.focal35(x), self.ev100(torch.cat([image, body * self.ev_aux_mask], dim=1))


class HeadEnsemble(nn.Module):
    """Several Heads over the same features; each output is the log of their mean probability.

    Members trained on different folds of the photos disagree where the data is thin, and
    their average does not hinge on which photos one split happened to hold out.
    """

    def __init__(self, members: list[Heads]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, features: torch.Tensor, aux: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outs = [member(features, aux) for member in self.members]
        log_k = float(np.log(len(outs)))
        return tuple(torch.logsumexp(torch.stack([torch.log_softmax(o[t], dim=1) for o in outs]), dim=0) - log_k
                     for t in range(len(TARGETS)))


def new_heads(spec: ModelSpec, train: FeatureSet, config: HeadConfig) -> Heads:
    heads = Heads(train.features.shape[1], train.aux.shape[1], bin_sizes(spec), config.dropout)
    heads.feat_mean.copy_(torch.from_numpy(train.features.mean(0)))
    heads.feat_std.copy_(torch.from_numpy(train.features.std(0) + 1e-3))
    heads.aux_mean.copy_(torch.from_numpy(train.aux.mean(0)))
    heads.aux_std.copy_(torch.from_numpy(train.aux.std(0) + 1e-2))
    if not config.use_crop_input:
        for name in ("log2_crop_factor", "has_crop_factor"):
            heads.aux_mask[AUX_FEATURES.index(name)] = 0.0
    if not config.ev_exposure_inputs:
        for name in ("log2_exposure_time", "has_exposure_time", "log2_iso_over_100", "has_iso"):
            heads.ev_aux_mask[AUX_FEATURES.index(name)] = 0.0
    return heads


def bin_sizes(spec: ModelSpec) -> dict[str, int]:
    return {"fnumber": len(dof_bins(spec)), "focal35": len(spec.focal35_bins), "ev100": len(spec.ev100_bins)}


def soft_targets(values: np.ndarray, bins: np.ndarray, sigma: float, log: bool) -> np.ndarray:
    """A Gaussian over the bins around each label (rows of NaN labels stay zero)."""
    centres = np.log(bins) if log else bins
    v = np.log(np.where(np.isnan(values), 1.0, values)) if log else np.nan_to_num(values)
    weights = np.exp(-0.5 * ((centres[None, :] - v[:, None]) / sigma) ** 2)
    weights /= weights.sum(1, keepdims=True)
    weights[np.isnan(values)] = 0.0
    return weights.astype(np.float32)


def targets(spec: ModelSpec, data: FeatureSet, config: HeadConfig) -> list[torch.Tensor]:
    # sigma for FNumber is given in stops; one stop is ln(sqrt 2) in ln N (and in ln N x crop)
    dof = dof_labels(spec, data.fnumber, data.aux)
    return [
        torch.from_numpy(soft_targets(dof, dof_bins(spec), config.sigma_fnumber * np.log(2) / 2, True)),
        torch.from_numpy(soft_targets(data.focal35, np.asarray(spec.focal35_bins), config.sigma_focal35, True)),
        torch.from_numpy(soft_targets(data.ev100, np.asarray(spec.ev100_bins), config.sigma_ev100, False)),
    ]


def losses(heads: Heads, data: tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]) -> list[torch.Tensor]:
    """Soft cross-entropy per head, averaged over the rows that have that label."""
    features, aux, soft = data
    out = []
    for logits, target in zip(heads(features, aux), soft):
        labeled = target.sum(1) > 0
        if labeled.any():
            logp = torch.log_softmax(logits[labeled], dim=1)
            out.append(-(target[labeled] * logp).sum(1).mean())
        else:
            out.append(torch.zeros(()))
    return out


def penalty(heads: Heads | HeadEnsemble, anchor: Heads | None = None) -> torch.Tensor:
    """L2 on the image-feature weights only: the nine body records cannot overfit. With an
    anchor (the heads being adapted), on the distance from its weights instead of from zero:
    what the photos do not show stays as the starting model had it."""
    if isinstance(heads, HeadEnsemble):
        return sum(penalty(member) for member in heads.members)  # type: ignore[return-value]
    width = heads.feat_mean.shape[0]
    return sum(((getattr(heads, name).weight[:, :width]  # type: ignore[return-value]
                 - (0.0 if anchor is None else getattr(anchor, name).weight[:, :width].detach())) ** 2).sum()
               for name in TARGETS)


def anchor_strength(train: FeatureSet, config: HeadConfig) -> float:
    """The penalty's weight: l2, made stronger where fewer photos than anchor_photos teach an
    adaptation, so an adapted model shrinks toward its start as the evidence thins."""
    photos = len(np.unique(train.photo))
    return config.l2 * max(1.0, config.anchor_photos / max(photos, 1)) if config.anchor_photos else config.l2


APERTURE_COPY_RANGE = (1.4, 22.0)  # the apertures lenses for larger sensors offer
_T = AUX_FEATURES.index("log2_exposure_time")
_HAS_T = AUX_FEATURES.index("has_exposure_time")


def aperture_copies(data: FeatureSet, copies: int, seed: int) -> FeatureSet:
    """data and `copies` more rows for each row with an EV100 label, each as if shot at
    another aperture with the exposure time that gives the same exposure (t' = t (N'/N)^2):
    rows for the EV100 head alone (their FNumber and focal labels are NaN)."""
    source = np.repeat(np.flatnonzero(~np.isnan(data.ev100) & (data.aux[:, _HAS_T] > 0)), copies)
    if not len(source):
        return data
    rng = np.random.default_rng(seed)
    drawn = np.exp(rng.uniform(*np.log(APERTURE_COPY_RANGE), len(source)))
    aux = data.aux[source].copy()
    aux[:, _T] += (2 * np.log2(drawn / data.fnumber[source])).astype(aux.dtype)
    empty = np.full(len(source), np.nan)
    added = {"features": np.asarray(data.features[source]), "aux": aux, "fnumber": empty, "focal35": empty,
             "ev100": data.ev100[source], "photo": data.photo[source], "identity": np.zeros(len(source), bool)}
    return FeatureSet(**{k: np.concatenate([np.asarray(getattr(data, k)), v]) for k, v in added.items()})


def train_heads(spec: ModelSpec, train: FeatureSet, val: FeatureSet, config: HeadConfig,
                init: Heads | None = None, batch_rows: int = BATCH_ROWS) -> tuple[Heads, dict]:
    """AdamW, full-batch up to batch_rows training rows, else that many rows a step; each
    head keeps the epoch with its own best validation loss."""
    torch.manual_seed(config.seed)
    if config.aperture_copies:
        train = aperture_copies(train, config.aperture_copies, config.seed)
    heads = copy.deepcopy(init) if init is not None else new_heads(spec, train, config)
    tensors = [(torch.from_numpy(d.features), torch.from_numpy(d.aux), targets(spec, d, config))
               for d in (train, val)]
    optimiser = torch.optim.AdamW([p for p in heads.parameters() if p.requires_grad],
                                  lr=config.lr, weight_decay=0.0)
    anchor = init if config.anchor_photos else None  # never trained: `heads` is its copy
    strength = anchor_strength(train, config) if anchor is not None else config.l2
    best = {name: (float("inf"), 0, _state(heads, name)) for name in TARGETS}
    # epochs and patience count full-batch steps: with k steps a pass, a k-th as many passes
    steps = -(-len(train.features) // batch_rows)
    epochs, patience = (config.epochs, config.patience) if steps <= 1 else (
        -(-config.epochs // steps), max(2, -(-config.patience // steps)))
    epoch = 0
    for epoch in range(epochs):
        heads.train()
        for batch in _batches(tensors[0], steps):
            optimiser.zero_grad()
            (sum(losses(heads, batch)) + strength * penalty(heads, anchor)).backward()
            optimiser.step()
        heads.eval()
        with torch.no_grad():
            val_losses = [float(v) for v in losses(heads, tensors[1])]
        for name, value in zip(TARGETS, val_losses):
            if value < best[name][0] - 1e-4:
                best[name] = (value, epoch, _state(heads, name))
        if epoch - max(b[1] for b in best.values()) >= patience:
            break
    for name in TARGETS:
        getattr(heads, name).load_state_dict(best[name][2])
    heads.eval()
    return heads, {"epochs_run": epoch + 1,
                   "best_epoch": {n: best[n][1] for n in TARGETS},
                   "best_val_loss": {n: round(best[n][0], 4) for n in TARGETS}}


def _batches(data: tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]],
             count: int) -> list[tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]]:
    """The whole set for one step (and no shuffle draws on the random state); else a
    shuffled pass in `count` near-equal batches."""
    if count <= 1:
        return [data]
    features, aux, soft = data
    return [(features[i], aux[i], [t[i] for t in soft]) for i in torch.randperm(len(features)).chunk(count)]


def _state(heads: Heads, name: str) -> dict:
    return copy.deepcopy(getattr(heads, name).state_dict())


def logits(heads: Heads, data: FeatureSet) -> dict[str, np.ndarray]:
    """Head outputs for cached features, keyed like the ONNX outputs."""
    from ..modelspec import OUTPUT_EV100, OUTPUT_FNUMBER, OUTPUT_FOCAL35

    heads.eval()
    with torch.no_grad():
        out = heads(torch.from_numpy(data.features), torch.from_numpy(data.aux))
    return dict(zip((OUTPUT_FNUMBER, OUTPUT_FOCAL35, OUTPUT_EV100), (o.numpy() for o in out)))
