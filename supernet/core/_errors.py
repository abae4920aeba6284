"""Exception hierarchy shared by every package of the project."""

from __future__ import annotations

__all__ = ["NASError", "SpaceError", "ArtifactMismatchError", "DataError"]


class NASError(Exception):
    """Base class of every error this project raises on purpose."""


class SpaceError(NASError, ValueError):
    """A search space or an architecture is invalid, or they do not fit each other."""


class ArtifactMismatchError(NASError):
    """An artifact (checkpoint, table, predictor) was made for another space or model."""


class DataError(NASError):
    """A dataset is missing, corrupt or of an unexpected shape."""
