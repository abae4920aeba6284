"""Atomic file writes, used for every artifact: a reader, or a run killed mid-write, never
sees half a file; the old file stays until the new one is complete."""

from __future__ import annotations

import contextlib
import functools
import glob
import json
import math
import os
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from supernet.core._errors import NASError

__all__ = ["start_ray", "atomic_path", "atomic_write_bytes", "atomic_write_text", "atomic_write_json",
           "check_outputs", "check_writable", "die_with_parent", "holds_output", "json_text", "output_lock",
           "Reaper"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def _writer_tag() -> str:
    """``HOST-PID`` of this process, as temp-file names carry it (host: a folder shared
    between machines or containers holds other hosts' writers, whose pids mean nothing here)."""
    host = "".join(c if c.isalnum() else "_" for c in socket.gethostname())[:40] or "host"
    return f"{host}-{os.getpid()}"


def remove_stale_temps(path: Path) -> list[Path]:
    """Delete the temporary files that killed writers of ``path`` on this host left beside
    it (their names carry the writer's host and pid; a live writer's file, and any other
    host's, is kept); returns them."""
    removed, host = [], _writer_tag().rsplit("-", 1)[0]
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.{glob.escape(host)}-*.tmp"):
        pid = tmp.name[len(path.name) + len(host) + 3:].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def die_with_parent(parent: int) -> None:
    """Linux, in a worker process: get SIGKILL when the process ``parent`` that started it
    dies (even by SIGKILL), so a killed run leaves no workers computing on."""
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


_REAP = r"""
import os, select, signal, sys, time
mark, owner, me = ("NAS_OWNER=" + sys.argv[1]).encode(), int(sys.argv[2]), os.getpid()
since = int(sys.argv[3])  # clock ticks after boot when the owner called start()


def table():
    out = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                rest = fh.read().rsplit(b")", 1)[1].split()
            out[int(pid)] = (int(rest[1]), int(rest[19]))  # parent, start time (ticks after boot)
        except (OSError, IndexError, ValueError):
            pass
    return out


def family(procs):
    found, grew = {owner}, True
    while grew:
        new = {p for p, (parent, _) in procs.items() if parent in found and p not in found}
        found |= new
        grew = bool(new)
    return {(p, procs[p][1]) for p in found - {owner, me}}


def marked(pid):
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            return mark in fh.read().split(b"\0")
    except OSError:
        return False


procs = table()
owner_start = procs.get(owner, (0, None))[1]


def owner_alive(procs):  # a reused pid has another start time
    return procs.get(owner, (0, None))[1] == owner_start


before = {(p, start) for p, start in family(procs) if start <= since}  # from before (to a tick): spared
known = set()  # what it started since (pid, start time), noted every second
while owner_alive(procs):
    if select.select([sys.stdin], [], [], 1.0)[0]:  # stop() wrote, or the owner's pipe closed
        break
    procs = table()
    if owner_alive(procs):
        known |= family(procs) - before
for _ in range(5):
    procs = table()
    if owner_alive(procs):
        known |= family(procs) - before
    victims = {p for p, start in known if procs.get(p, (0, None))[1] == start}
    victims |= {p for p in procs if p != me and (p, procs[p][1]) not in before and marked(p)}
    for p in victims:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    if not victims:
        break
    time.sleep(0.2)
"""


class Reaper:
    """Linux: the processes this one starts after `start`, and all their descendants, are
    killed when this process exits or dies (even by SIGKILL), or at `stop`; for services
    such as a local Ray whose helpers outlive the process that started them. A watcher
    process notes the family tree every second (by pid and start time, so a reused pid is
    spared; processes from before `start` are never touched), watches the owner's pid, and
    marks the environment (``NAS_OWNER``) for what starts in the last second."""

    def __init__(self) -> None:
        self._proc = None

    def start(self) -> None:
        import subprocess
        import sys
        import uuid

        if self._proc is not None or not sys.platform.startswith("linux"):
            return
        mark = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        env = {k: v for k, v in os.environ.items() if k != "NAS_OWNER"}
        with open("/proc/uptime") as fh:
            since = int(float(fh.read().split()[0]) * os.sysconf("SC_CLK_TCK"))
        self._proc = subprocess.Popen([sys.executable, "-c", _REAP, mark, str(os.getpid()), str(since)],
                                      stdin=subprocess.PIPE, env=env, start_new_session=True)
        os.environ["NAS_OWNER"] = mark

    def stop(self) -> None:
        """Kill the marked processes now (after a clean shutdown: the ones that lingered)."""
        if self._proc is None:
            return
        os.environ.pop("NAS_OWNER", None)
        try:  # a byte, not only the close: a forked child may hold the pipe open
            self._proc.stdin.write(b"stop")
            self._proc.stdin.close()
        except OSError:
            pass
        self._proc.wait()
        self._proc = None


def start_ray(address: str | None, num_cpus: int, reaper: Reaper) -> bool:
    """Join the Ray cluster at ``address`` (``"auto"``, ``"HOST:PORT"``, ``"ray://HOST:10001"``)
    or, with None, start a local Ray of ``num_cpus`` CPUs that ``reaper`` kills with this
    process. Returns False when this process was already connected. A cluster started with
    token authentication (Ray's default for ``ray start``) needs ``RAY_AUTH_MODE=token`` here."""
    import ray

    if ray.is_initialized():
        return False
    kwargs = {"include_dashboard": False, "log_to_driver": False, "logging_level": "WARNING"}
    try:
        if address is None:
            reaper.start()
            ray.init(address="local", num_cpus=num_cpus, **kwargs)  # never a cluster found here
        else:
            ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError) as err:
        reaper.stop()
        hint = ("" if address is None else "; is the cluster up (`ray status`), and for a cluster "
                "started with `ray start` is RAY_AUTH_MODE=token set here?")
        raise NASError(f"could not start or join Ray (address={address!r}): {err}{hint}") from err
    return True


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write to; on success it is synced and
    renamed over ``path``, on error it is removed. A writer killed mid-write (SIGKILL: no
    cleanup runs) leaves ``.NAME.HOST-PID.*.tmp``; the next write of ``path`` removes it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_writer_tag()}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would hide the file from others
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode())


def json_text(data: Any, indent: int | None = 2, default: Any = None) -> str:
    """``data`` as strict JSON, the only JSON the project writes: a NaN or an infinity (a
    figure that is missing or undefined) becomes null, never the bare tokens ``NaN`` or
    ``Infinity`` that strict parsers reject."""
    return json.dumps(_finite(data), indent=indent, allow_nan=False, default=default)


def _finite(data: Any) -> Any:
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_finite(v) for v in data]
    return data


def atomic_write_json(path: str | Path, data: Any) -> Path:
    return atomic_write_text(path, json_text(data) + "\n")


def check_writable(path: str | Path) -> None:
    """Raise `NASError` now, before any work, if ``path`` could not be written later: its
    nearest existing folder is not writable, or a file stands where a folder must be."""
    path = Path(path).absolute()
    parent = path if path.is_dir() else path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise NASError(f"cannot write {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise NASError(f"cannot write {path}: no write permission in {parent}; choose another output")


def check_outputs(paths, *, force: bool, what: str = "output") -> None:
    """Every path in ``paths`` writable, and new unless ``force``: a user's file is never
    replaced without --force. Called before any work is done."""
    paths = list(dict.fromkeys(Path(p) for p in paths))
    for p in paths:
        check_writable(p)
    existing = [str(p) for p in paths if p.exists()]
    if existing and not force:
        raise NASError(f"{what} {', '.join(existing)} already exist(s); choose another path or pass "
                       "--force to replace it")


@contextlib.contextmanager
def output_lock(path: str | Path) -> Iterator[bool]:
    """Hold ``path``'s lock (``.NAME.lock`` beside it, an exclusive ``flock``) from the start
    of a write to its end: a second writer of the same output is refused at once instead of
    replacing the first one's files. Yields whether an earlier writer was killed before it
    finished (its lock file was left behind: its outputs are unfinished, redo them). The
    lock file goes when the block ends, by success or error; the kernel drops the lock of a
    killed process, so a stale file never blocks a rerun."""
    import fcntl

    try:  # a symlink and its target are one output, and so share one lock
        path = Path(path).resolve()
    except RuntimeError:
        raise NASError(f"{path}: a loop of symbolic links; choose another output") from None
    lock = path.with_name(f".{path.name}.lock")
    check_writable(lock)
    lock.parent.mkdir(parents=True, exist_ok=True)
    killed = lock.exists()
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise NASError(f"{path} is being written by another process now ({holder}); wait for it to end "
                           "or choose another output") from None
        try:  # the lock file a finished holder removed is not the one to hold: open the new one
            if os.stat(lock).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
        try:
            yield killed
        finally:
            lock.unlink(missing_ok=True)
    finally:
        os.close(fd)


def holds_output(where: Callable[..., str | Path]):
    """Decorate a function that writes the output ``where(*args, **kwargs)`` names (a file or
    a folder): each call runs holding that output's `output_lock`, so a second process
    writing the same output is refused at once."""
    def wrap(fn):
        @functools.wraps(fn)
        def locked(*args, **kwargs):
            with output_lock(where(*args, **kwargs)):
                return fn(*args, **kwargs)
        return locked
    return wrap
