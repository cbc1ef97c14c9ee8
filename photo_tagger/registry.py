"""Find the model to use: the user's own (from `phototag train`) before the shipped one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from .config import user_models_dir
from .errors import NoModelInstalled

SHIPPED_MODEL = "phototag-starter.onnx"
ACTIVE_FILE = "active.json"
BACKBONE_SUFFIX = ".backbone.pt"  # fine-tuned weights beside a user model (its ONNX file folds BN away)


@dataclass(frozen=True)
class InstalledModel:
    """A model file phototag can use, and whether it came with phototag or from `train`."""

    path: Path
    origin: str  # "shipped" or "user"


def shipped_models() -> list[InstalledModel]:
    """Models inside the installed package (the repository's models/ folder)."""
    folder = resources.files("photo_tagger.models")
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".onnx"):
            found.append(InstalledModel(Path(str(entry)), "shipped"))
    return sorted(found, key=lambda m: m.path.name)


def user_models() -> list[InstalledModel]:
    folder = user_models_dir()
    if not folder.is_dir():
        return []
    return [InstalledModel(p, "user") for p in sorted(folder.glob("*.onnx"))]


def active_user_model() -> InstalledModel | None:
    """The model `phototag train` installed last, if it is still there."""
    pointer = user_models_dir() / ACTIVE_FILE
    try:
        name = json.loads(pointer.read_text())["model"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    path = user_models_dir() / name
    return InstalledModel(path, "user") if path.is_file() else None


def default_model() -> InstalledModel:
    """The user's calibrated model if there is one, else the shipped starter model."""
    active = active_user_model()
    if active:
        return active
    shipped = [m for m in shipped_models() if m.path.name == SHIPPED_MODEL] or shipped_models()
    if shipped:
        return shipped[0]
    raise NoModelInstalled(
        "no model is installed: phototag ships none in this build. Train one with "
        "`phototag train PATH` (pip install 'phototag[train]') or pass --model FILE"
    )
