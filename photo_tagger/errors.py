"""The library's own exceptions; only the CLI turns them into messages and exit codes."""


class PhototagError(Exception):
    """Base class of every error phototag raises on purpose."""


class UnreadableImage(PhototagError):
    """A file could not be opened or decoded as a photo."""


class MetadataError(PhototagError):
    """A file's metadata block could not be read."""


class ModelError(PhototagError):
    """A model file is missing, malformed, or lacks phototag's metadata."""


class NoModelInstalled(ModelError):
    """No model was given and none is installed."""


class DeviceUnavailable(PhototagError):
    """The requested execution device (e.g. CUDA) cannot be used here."""


class DatabaseError(PhototagError):
    """The state database is unusable (wrong schema, newer version, corrupt)."""


class StoreError(DatabaseError):
    """The database failed under a run (disk full, damaged page, deleted or replaced)."""


class MetadataWriteError(PhototagError):
    """Estimates could not be written into a file (or its sidecar); the original is untouched."""


class UndoRefused(PhototagError):
    """A write cannot be undone safely (the file changed since phototag wrote it, or is gone)."""


class TrainError(PhototagError):
    """Training cannot run on what was found (too few photos, unusable base model, no room)."""


class UnreadablePhotos(TrainError):
    """Photos whose pixels would not decode for training; each is named with its reason."""

    def __init__(self, failures: list[tuple[str, str]]) -> None:
        self.failures = failures
        super().__init__(f"{len(failures)} photos could not be decoded: "
                         + "; ".join(f"{path}: {why}" for path, why in failures[:3]))
