"""The model contract: what an ONNX model must carry for phototag to use it.

Everything inference needs (input size, normalisation, bins, calibration) lives in
the ONNX file's metadata under one key, so training and inference cannot drift.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import ModelError

SPEC_KEY = "phototag.spec"
# The shots (split.shot_id) a model learned from, beside the spec: only `train` reads it.
SEEN_KEY = "phototag.seen_shots"
FORMAT_VERSION = 6  # 2: adds the label prior (prior, prior_weight); 3: confidence_shift;
# 4: depth of field in equivalent-aperture units (dof_units, dof_bins, crop_prior);
# 5: the label prior pooled geometrically (prior_pool "log"); 6: confidence offsets per
# sensor-size class (class_shift)
# A spec declares the oldest format that reads it right: one in FNumber units stays 3, so an
# older phototag still reads it (it ignores the new fields, whose defaults it behaves like).
BASE_FORMAT = 3

INPUT_IMAGE = "image"
INPUT_AUX = "aux"
OUTPUT_FNUMBER = "fnumber_logits"
OUTPUT_FOCAL35 = "focal35_logits"
OUTPUT_EV100 = "ev100_logits"

# Auxiliary inputs, in order: what the body records even behind a manual lens.
AUX_FEATURES = (
    "log2_exposure_time",
    "has_exposure_time",
    "log2_iso_over_100",
    "has_iso",
    "exposure_bias_ev",
    "flash_fired",
    "has_flash",
    "log2_crop_factor",
    "has_crop_factor",
)

COMBINE_MODES = ("dof", "exposure", "product")
POINT_RULES = ("mode", "median", "mape")  # how an estimate is read off a distribution (estimate.py)
DOF_UNITS = ("fnumber", "equivalent")  # what the depth-of-field head predicts (equivalent.py)
PRIOR_POOLS = ("linear", "log")  # how the label prior joins the model's distribution (calibration.with_prior)
MAX_CONFIDENCE_SHIFT = 5.0  # log-odds: beyond it a confidence would say nothing of its photo


def third_stop_bins(lo_stops: int = 0, hi_stops: int = 30) -> list[float]:
    """FNumber bin centres a third of a stop apart: N = 2 ** (k / 6)."""
    return [round(2 ** (k / 6), 4) for k in range(lo_stops, hi_stops + 1)]


def log_bins(lo: float, hi: float, count: int) -> list[float]:
    """Log-spaced bin centres from lo to hi inclusive."""
    ratio = (hi / lo) ** (1 / (count - 1))
    return [round(lo * ratio**i, 4) for i in range(count)]


def linear_bins(lo: float, hi: float, step: float) -> list[float]:
    """Evenly spaced centres, for EV100 (already a logarithm)."""
    count = int(round((hi - lo) / step)) + 1
    return [round(lo + i * step, 4) for i in range(count)]


@dataclass(frozen=True)
class ModelSpec:
    """The preprocessing, bins and calibration a model was trained with."""

    model_version: str
    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    fnumber_bins: tuple[float, ...]
    focal35_bins: tuple[float, ...]
    ev100_bins: tuple[float, ...]
    aux_features: tuple[str, ...] = AUX_FEATURES
    combine: str = "product"
    # The depth-of-field head's units: "fnumber", or "equivalent" (N x crop factor) over
    # dof_bins, converted with the body's crop factor, or for an unknown body over crop_prior
    # ([crop factor, share] of the training photos).
    dof_units: str = "fnumber"
    dof_bins: tuple[float, ...] = ()
    crop_prior: list[list[float]] = field(default_factory=list)
    temperature: dict[str, float] = field(default_factory=dict)
    bias: dict[str, list[list[float]]] = field(default_factory=dict)
    # per target: "mode" (default), "median" or "mape" (estimate.POINT_RULES)
    point: dict[str, str] = field(default_factory=dict)
    # The training labels' distribution per sensor-size class ({"crop_bounds": [...], target:
    # one row per class plus a last row for an unknown crop factor}); each target's estimate
    # mixes it in with its prior_weight, chosen on calibration photos (0: not at all).
    prior: dict[str, Any] = field(default_factory=dict)
    prior_weight: dict[str, float] = field(default_factory=dict)
    # Per target, "linear" (default: a mixture, which keeps both spreads) or "log" (a
    # weighted geometric mean, which keeps what the model and the prior agree on).
    prior_pool: dict[str, str] = field(default_factory=dict)
    # Per target, a shift of each confidence's log-odds fitted on the calibration photos
    # (0 or absent: none). The window mass under-states the hit rate wherever the label
    # prior dilutes a sharp distribution; no temperature can undo that, one offset can.
    confidence_shift: dict[str, float] = field(default_factory=dict)
    # Per target, one more log-odds offset per sensor-size class, indexed as the label
    # prior's rows (its crop_bounds classes, then an unknown crop factor); absent: none.
    class_shift: dict[str, list[float]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    format_version: int = BASE_FORMAT

    def __post_init__(self) -> None:
        if self.dof_units != "fnumber" and self.format_version < 4:
            object.__setattr__(self, "format_version", 4)  # a format-3 reader would misread it
        if "log" in self.prior_pool.values() and self.format_version < 5:
            object.__setattr__(self, "format_version", 5)  # an older reader would mix it linearly
        if any(any(v) for v in self.class_shift.values()) and self.format_version < 6:
            object.__setattr__(self, "format_version", 6)  # an older reader would ignore the offsets

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        """Parse and validate; a bad spec is a ModelError, never a KeyError later."""
        try:
            raw = json.loads(text)
            version = int(raw.get("format_version", 0))
            if version > FORMAT_VERSION:
                raise ModelError(
                    f"model spec format {version} is newer than this phototag understands "
                    f"({FORMAT_VERSION}); upgrade phototag"
                )
            spec = cls(
                model_version=str(raw["model_version"]),
                input_size=int(raw["input_size"]),
                mean=tuple(float(v) for v in raw["mean"]),  # type: ignore[arg-type]
                std=tuple(float(v) for v in raw["std"]),  # type: ignore[arg-type]
                fnumber_bins=tuple(float(v) for v in raw["fnumber_bins"]),
                focal35_bins=tuple(float(v) for v in raw["focal35_bins"]),
                ev100_bins=tuple(float(v) for v in raw["ev100_bins"]),
                aux_features=tuple(raw.get("aux_features", AUX_FEATURES)),
                combine=str(raw.get("combine", "product")),
                dof_units=str(raw.get("dof_units", "fnumber")),
                dof_bins=tuple(float(v) for v in raw.get("dof_bins", ())),
                crop_prior=[[float(c), float(w)] for c, w in raw.get("crop_prior", [])],
                temperature={k: float(v) for k, v in raw.get("temperature", {}).items()},
                bias=raw.get("bias", {}),
                point={str(k): str(v) for k, v in raw.get("point", {}).items()},
                prior=raw.get("prior", {}),
                prior_weight={str(k): float(v) for k, v in raw.get("prior_weight", {}).items()},
                prior_pool={str(k): str(v) for k, v in raw.get("prior_pool", {}).items()},
                confidence_shift={str(k): float(v) for k, v in raw.get("confidence_shift", {}).items()},
                class_shift={str(k): [float(x) for x in v] for k, v in raw.get("class_shift", {}).items()},
                info=raw.get("info", {}),
                format_version=version,
            )
        except ModelError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"model metadata is malformed: {exc}") from exc
        spec.validate()
        return spec

    def validate(self) -> None:
        if any(rule not in POINT_RULES for rule in self.point.values()):
            raise ModelError(f"unknown point rule in {self.point}; upgrade phototag")
        self._validate_prior()
        if any(not abs(v) <= MAX_CONFIDENCE_SHIFT for v in self.confidence_shift.values()):
            raise ModelError(f"model metadata has a confidence shift outside +-{MAX_CONFIDENCE_SHIFT}")
        self._validate_class_shift()
        if self.combine not in COMBINE_MODES:
            raise ModelError(f"unknown combine mode {self.combine!r}")
        self._validate_dof()
        if tuple(self.aux_features) != AUX_FEATURES:
            raise ModelError("model expects auxiliary inputs this phototag does not provide")
        if self.input_size < 16 or len(self.mean) != 3 or len(self.std) != 3:
            raise ModelError("model metadata has an invalid input size or normalisation")
        for name in ("fnumber_bins", "focal35_bins", "ev100_bins"):
            bins = getattr(self, name)
            if len(bins) < 2 or list(bins) != sorted(set(bins)) or min(bins) <= 0 and name != "ev100_bins":
                raise ModelError(f"model metadata has unsorted or too few {name}")

    def _validate_dof(self) -> None:
        if self.dof_units not in DOF_UNITS:
            raise ModelError(f"unknown depth-of-field units {self.dof_units!r}; upgrade phototag")
        if self.dof_bins and (len(self.dof_bins) < 2 or list(self.dof_bins) != sorted(set(self.dof_bins))
                              or min(self.dof_bins) <= 0):
            raise ModelError("model metadata has unsorted or too few dof_bins")
        if self.dof_units == "equivalent" and (
                not self.crop_prior or any(len(r) != 2 or not r[0] > 0 or not r[1] >= 0 for r in self.crop_prior)
                or not sum(r[1] for r in self.crop_prior) > 0):
            raise ModelError("model metadata predicts equivalent apertures without a valid crop_prior")

    def _validate_class_shift(self) -> None:
        classes = len(self.prior.get("crop_bounds", [])) + 2
        for target, offsets in self.class_shift.items():
            if target not in ("fnumber", "focal35") or "crop_bounds" not in self.prior or len(offsets) != classes:
                raise ModelError(f"model metadata has {target} confidence offsets that match no sensor-size classes")
            if any(not abs(v) <= MAX_CONFIDENCE_SHIFT for v in offsets):
                raise ModelError(f"model metadata has a confidence offset outside +-{MAX_CONFIDENCE_SHIFT}")

    def _validate_prior(self) -> None:
        if any(pool not in PRIOR_POOLS for pool in self.prior_pool.values()):
            raise ModelError(f"unknown label prior pooling in {self.prior_pool}; upgrade phototag")
        if not self.prior and not any(self.prior_weight.values()):
            return
        classes = len(self.prior.get("crop_bounds", [])) + 2
        for target, bins in (("fnumber", self.fnumber_bins), ("focal35", self.focal35_bins)):
            weight = self.prior_weight.get(target, 0.0)
            rows = self.prior.get(target)
            if not 0.0 <= weight <= 1.0:
                raise ModelError(f"model metadata has a prior weight outside 0..1 for {target}")
            if weight and (not isinstance(rows, list) or len(rows) != classes
                           or any(len(row) != len(bins) for row in rows)):
                raise ModelError(f"model metadata has a malformed {target} prior")


def default_spec(model_version: str, input_size: int = 224) -> ModelSpec:
    """The bins and normalisation phototag's own models use (EfficientNet-Lite scaling)."""
    return ModelSpec(
        model_version=model_version,
        input_size=input_size,
        mean=(127.0, 127.0, 127.0),
        std=(128.0, 128.0, 128.0),
        fnumber_bins=tuple(third_stop_bins(0, 30)),  # f/1.0 .. f/32
        focal35_bins=tuple(log_bins(10.0, 800.0, 49)),  # ~9% apart
        ev100_bins=tuple(linear_bins(-6.0, 18.0, 0.5)),
    )
