"""One exception family for facelens; the CLI turns these into one-line messages."""


class FacelensError(Exception):
    """Base class of every error facelens raises on purpose."""


class InputError(FacelensError):
    """An input could not be read: missing, empty, corrupt, truncated or of an unknown format."""


class NoFaceError(InputError):
    """An image that must show a face (e.g. a side of `verify`) has none detected; `sources` names them."""

    def __init__(self, message: str, sources: list[str]) -> None:
        super().__init__(message)
        self.sources = sources


class ModelError(FacelensError):
    """A model file is missing, does not match its sha256, or its runtime failed to load it."""


class FeatureError(FacelensError, ValueError):
    """An unknown feature or an illegal combination of options was asked for."""


class EngineError(FeatureError):
    """An unknown batch engine, or an option the chosen engine does not take."""


class SchemaError(FeatureError):
    """An unknown column schema or output format, or a resumed output written with other options."""


class SettingError(FeatureError):
    """A setting from an environment variable or a server option has an invalid value."""
