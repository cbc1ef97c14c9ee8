"""Shared fixtures: state in tmp_path, a tiny real ONNX model, a small real library."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from photos import camera_exif, make_photo  # noqa: E402
from tinymodel import build_tiny_model  # noqa: E402


@pytest.fixture(autouse=True)
def phototag_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own state folder: no test touches the user's database."""
    home = tmp_path / "phototag-home"
    monkeypatch.setenv("PHOTOTAG_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("model") / "tiny.onnx")


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """Five photos: two manual-lens (no lens EXIF), one with FNumber 0, two complete."""
    root = tmp_path / "library"
    make_photo(root / "manual" / "a.jpg", exif=camera_exif(None, None), seed=1)
    make_photo(root / "manual" / "b.jpg", exif=camera_exif(None, None, orientation=6), seed=2)
    make_photo(root / "sony" / "zero.jpg", exif=camera_exif(0.0, 35.0, make="SONY", model="ILCE-7M3"), seed=3)
    make_photo(root / "af" / "c.jpg", exif=camera_exif(4.0, 85.0), seed=4)
    make_photo(root / "af" / "d.jpg", exif=camera_exif(8.0, 24.0, focal35=36, make="NIKON CORPORATION", model="NIKON D7000"), seed=5)
    return root
