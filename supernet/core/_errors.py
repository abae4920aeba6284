"""Exception hierarchy shared by every package of the project."""

from __future__ import annotations

import errno

__all__ = ["NASError", "SpaceError", "ArtifactMismatchError", "DataError", "os_error_line"]


class NASError(Exception):
    """Base class of every error this project raises on purpose."""


class SpaceError(NASError, ValueError):
    """A search space or an architecture is invalid, or they do not fit each other."""


class ArtifactMismatchError(NASError):
    """An artifact (checkpoint, table, predictor) was made for another space or model."""


class DataError(NASError):
    """A dataset is missing, corrupt or of an unexpected shape."""


_CAUSES = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
           errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
           errno.EPERM: "not permitted (an immutable or protected file or folder?)",
           errno.ELOOP: "a loop of symbolic links", errno.EISDIR: "a folder stands where a file is expected",
           errno.ENOTDIR: "a file stands where a folder is expected", errno.ENOENT: "no such file or folder",
           errno.EEXIST: "it already exists", errno.ENAMETOOLONG: "the name is too long",
           errno.EMFILE: "too many open files", errno.EIO: "an input/output error of the device"}
_ELSEWHERE, _SPACE = "write elsewhere (--out)", "free some space or write elsewhere (--out)"
_FIXES = {errno.ENOSPC: _SPACE, errno.EDQUOT: _SPACE, errno.EROFS: _ELSEWHERE, errno.EACCES: _ELSEWHERE,
          errno.EPERM: _ELSEWHERE}


def os_error_line(err: OSError) -> str:
    """One line for a file operation the system refused: the path(s), the cause in words and,
    where there is a general one, the fix."""
    where = " -> ".join(str(p) for p in (err.filename, err.filename2) if p) or type(err).__name__
    cause = _CAUSES.get(err.errno, err.strerror or str(err))
    fix = _FIXES.get(err.errno)
    return f"{where}: {cause}" + (f"; {fix}" if fix else "")
