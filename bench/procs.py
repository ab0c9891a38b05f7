"""Processes under test: start, wait until ready, CPU seconds and resident memory, stop.

CPU and memory are read from /proc for the whole process tree (uvicorn's supervisor and its
workers), so they count only the service, not the load generator or the fake LLM that share
the machine with it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from loadgen import Connection, HTTPError

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants."""
    tree = _children()
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(tree.get(current, []))
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of the processes (utime and stime of /proc/PID/stat)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def rss_mib(pids: list[int]) -> float:
    """Resident memory of the processes, MiB."""
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except OSError:
            continue
    return total * PAGE_SIZE / 2**20


class Server:
    """A server process on 127.0.0.1:`port`."""

    def __init__(self, name: str, argv: list[str], port: int, env: dict[str, str]) -> None:
        self.name = name
        self.argv = argv
        self.port = port
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self.log_path = Path(f"/tmp/qna-bench-{name}-{port}.log")

    def start(self, cpus: set[int] | None = None) -> Server:
        """Start the process (its output goes to a log file under /tmp)."""
        log = self.log_path.open("wb")

        def pin() -> None:
            if cpus:
                os.sched_setaffinity(0, cpus)

        self.started_at = time.perf_counter()
        self.process = subprocess.Popen(
            self.argv,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=pin if cpus else None,
            start_new_session=True,
        )
        return self

    @property
    def pids(self) -> list[int]:
        """The process and its children (uvicorn workers)."""
        assert self.process is not None
        return process_tree(self.process.pid)

    async def wait_ready(self, path: str, timeout: float = 120.0) -> float:
        """Poll `path` until it answers 200; seconds since start."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: see {self.log_path}")
            conn = Connection("127.0.0.1", self.port)
            try:
                response = await conn.request("GET", path)
                if response.status == 200:
                    return time.perf_counter() - self.started_at
            except (OSError, HTTPError):
                pass
            finally:
                await conn.close()
            await asyncio.sleep(0.02)
        raise RuntimeError(f"{self.name} not ready after {timeout:g} s: see {self.log_path}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 30 s."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
