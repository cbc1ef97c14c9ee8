"""Where phototag keeps its state; PHOTOTAG_HOME relocates all of it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

HOME_ENV = "PHOTOTAG_HOME"


def state_dir() -> Path:
    """The folder holding the database and user-trained models.

    PHOTOTAG_HOME wins; otherwise the platform's per-user data folder.
    """
    override = os.environ.get(HOME_ENV)
    if override:
        return Path(override).expanduser()
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "phototag"
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "phototag"
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "phototag"


def default_db_path() -> Path:
    """The database used when --db is not given."""
    return state_dir() / "phototag.db"


def user_models_dir() -> Path:
    """Models trained on the user's own library (`phototag train`) live here."""
    return state_dir() / "models"


def train_cache_dir() -> Path:
    """`phototag train` keeps its photos' backbone features here, so a second run only
    computes the photos that are new or changed."""
    return state_dir() / "train-cache"


def thumbs_dir() -> Path:
    """Thumbnails the HTML report made, kept so the next report decodes nothing again."""
    return state_dir() / "thumbs"
