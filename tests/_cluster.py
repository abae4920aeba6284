"""A real two-node Ray cluster on this machine for tests: a head and a second node started
with ``ray start`` (token authentication, Ray's default), torn down process by process."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

TOKEN = secrets.token_hex(32)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _processes() -> dict[int, tuple[int, str]]:
    """pid: (parent pid, command line) of every process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parent = int(stat[stat.rindex(")") + 2:].split()[1])
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                found[int(entry.name)] = (parent, cmdline)
            except (OSError, ValueError):
                continue
    return found


def _with_descendants(roots: set[int], procs: dict[int, tuple[int, str]]) -> set[int]:
    family, grew = set(roots), True
    while grew:
        more = {pid for pid, (parent, _) in procs.items() if parent in family} - family
        family |= more
        grew = bool(more)
    return family


class LocalRayCluster:
    """``address`` is ``127.0.0.1:PORT``; `add_node` joins a node of its own CPUs (and a
    ``node<i>`` resource); `kill_node` kills that node's raylet as a crash would."""

    def __init__(self, cpus: int = 1) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        # token authentication as `ray start` sets it up, with a token of the tests' own (a
        # fresh machine has none in ~/.ray; the driver gets the same environment, and Ray
        # keeps the first token a process used, so every cluster of a session shares one)
        self.env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": TOKEN}
        self.nodes: list[int] = []  # node manager ports of the added nodes
        self._orphans: set[int] = set()  # helpers of killed nodes (their raylet is gone)
        self._ray(["--head", "--port", str(self.port), "--num-cpus", str(cpus), "--include-dashboard",
                   "false", "--node-manager-port", str(free_port())])

    def _ray(self, args: list[str]) -> None:
        cli = Path(sys.executable).with_name("ray")
        cmd = [str(cli) if cli.exists() else "ray", "start", "--disable-usage-stats",
               "--object-store-memory", str(200 * 2**20), *args]  # small: CI machines have little /dev/shm
        done = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=120)
        if done.returncode:
            self.stop()
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")

    def add_node(self, cpus: int = 1) -> int:
        port = free_port()
        name = f"node{len(self.nodes) + 1}"
        self._ray(["--address", self.address, "--num-cpus", str(cpus), "--node-manager-port", str(port),
                   "--resources", json.dumps({name: 1})])
        self.nodes.append(port)
        return port

    def kill_node(self, port: int) -> int:
        """SIGKILL the raylet of the node with node manager ``port``; returns its pid."""
        procs = _processes()
        for pid, (_, cmd) in procs.items():
            if "raylet" in cmd.split(" ", 1)[0] and f"--node_manager_port={port}" in cmd:
                self._orphans |= _with_descendants({pid}, procs) - {pid}
                os.kill(pid, signal.SIGKILL)
                return pid
        raise RuntimeError(f"no raylet with node manager port {port}")

    def stop(self) -> None:
        """Kill every process of the cluster: the ones naming its ports (GCS, raylets, their
        monitors), everything they started, and what killed nodes left behind."""
        marks = (f":{self.port}", f"_port={self.port}", *(f"_port={p}" for p in self.nodes))
        for _ in range(3):
            procs = _processes()
            roots = {pid for pid, (_, cmd) in procs.items() if any(m in cmd for m in marks)}
            victims = (_with_descendants(roots, procs) | self._orphans) & set(procs) - {os.getpid()}
            for pid in victims:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if not victims:
                break
            time.sleep(0.5)
