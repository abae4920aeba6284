"""The project-wide toolbox: errors, the one check helper, bounded YAML, validation of what
is read from outside, atomic I/O, child processes (reaper, Ray) and progress bars."""

from supernet.core._config import (
    ConfigError,
    build_config,
    check,
    is_int,
    is_num,
    known_keys,
    parse_assignments,
    read_yaml,
    set_keys,
)
from supernet.core._errors import ArtifactMismatchError, DataError, NASError, SpaceError, os_error_line
from supernet.core._io import (
    Reaper,
    atomic_path,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    check_outputs,
    check_writable,
    die_with_parent,
    holds_output,
    json_text,
    output_lock,
    start_ray,
)
from supernet.core._lazy import lazy_face
from supernet.core._progress import progress
from supernet.core._validate import check_columns, differences, short

__all__ = [
    "ArtifactMismatchError", "ConfigError", "DataError", "NASError", "Reaper", "SpaceError", "atomic_path",
    "atomic_write_bytes", "atomic_write_json", "atomic_write_text", "build_config", "check", "check_columns",
    "check_outputs", "check_writable", "die_with_parent", "differences", "holds_output", "is_int", "is_num",
    "json_text", "known_keys", "lazy_face", "os_error_line", "output_lock", "parse_assignments", "progress",
    "read_yaml", "set_keys", "short", "start_ray",
]
