"""The models phototag can use and the figures their specs record (no torch needed)."""

from __future__ import annotations

from ..errors import PhototagError
from ..infer import Predictor
from ..registry import BACKBONE_SUFFIX, active_user_model, default_model, shipped_models, user_models


def installed_models() -> list[dict]:
    """Every model phototag can use, with the key figures its spec records."""
    active = active_user_model()
    if active is None and shipped_models():
        active = default_model()
    rows = []
    for model in [*shipped_models(), *user_models()]:
        row = {"name": model.path.name, "origin": model.origin, "path": str(model.path),
               "active": active is not None and model.path == active.path}
        try:
            spec = Predictor(model.path, "cpu").spec
            test = spec.info.get("test", {})
            row.update(version=spec.model_version, combine=spec.combine, test_n=test.get("n"),
                       fnumber_within_one_stop=test.get("fnumber", {}).get("within_one_stop"),
                       focal35_within_20_percent=test.get("focal35", {}).get("within_20_percent"))
            blocks = spec.info.get("finetuned_blocks")
            if blocks:  # the tuned backbone a later `train` starts from; the file scan runs needs no torch
                weights = model.path.with_suffix(BACKBONE_SUFFIX)
                row.update(finetuned_blocks=blocks,
                           finetuned_weights=str(weights) if weights.is_file() else None)
        except PhototagError as exc:
            row["error"] = str(exc)
        rows.append(row)
    return rows
