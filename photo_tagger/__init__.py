"""phototag: estimate FNumber and focal length for photos taken with manual lenses."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("phototag")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
