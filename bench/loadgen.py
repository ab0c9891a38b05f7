"""A small closed-loop HTTP/1.1 load generator on asyncio streams.

A general-purpose client (httpx) costs about a millisecond of CPU per request, which on a
two-core machine is taken from the service being measured. This client does only what the
benchmark needs: keep-alive connections, Content-Length and chunked bodies, and timestamps of
the first streamed SSE event of a given name (time to first token).

`run_closed_loop` opens N connections; each sends its next request as soon as the previous
answer is complete, for a fixed duration. Latencies are per request; throughput is completed
requests over the measured wall time.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


class HTTPError(Exception):
    """The server answered something the scenario did not expect, or closed the connection."""


@dataclass(slots=True)
class Response:
    """What the client read."""

    status: int
    headers: dict[bytes, bytes]
    body: bytes
    first_event_at: float | None = None  # perf_counter() when `watch` first appeared


class Connection:
    """One keep-alive HTTP/1.1 connection, reopened when the server closes it."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        """Close the socket."""
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        watch: bytes | None = None,
    ) -> Response:
        """Send one request and read the whole answer."""
        if self._writer is None:
            await self._open()
        assert self._reader is not None and self._writer is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if body is not None:
            lines.append("Content-Type: application/json")
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        self._writer.write(head + body if body is not None else head)
        try:
            response = await self._read(watch)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            await self.close()
            raise HTTPError(f"connection lost: {type(exc).__name__}") from exc
        if response.headers.get(b"connection", b"").lower() == b"close":
            await self.close()
        return response

    async def _read(self, watch: bytes | None) -> Response:
        assert self._reader is not None
        head = await self._reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head[:-4].split(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        headers: dict[bytes, bytes] = {}
        for line in header_lines:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if b"content-length" in headers:
            body = await self._reader.readexactly(int(headers[b"content-length"]))
            return Response(status, headers, body)
        if headers.get(b"transfer-encoding", b"").lower() != b"chunked":
            raise HTTPError("response has neither a length nor chunked encoding")
        parts: list[bytes] = []
        seen: float | None = None
        while True:
            size = int((await self._reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16)
            if size == 0:
                await self._reader.readuntil(b"\r\n")
                break
            data = await self._reader.readexactly(size + 2)
            parts.append(data[:-2])
            if watch is not None and seen is None and watch in data:
                seen = time.perf_counter()
        return Response(status, headers, b"".join(parts), seen)


@dataclass(slots=True)
class Sample:
    """One timed request."""

    latency: float
    ttft: float | None = None


@dataclass
class RunResult:
    """Everything measured in one closed-loop run."""

    name: str
    concurrency: int
    wall: float
    samples: list[Sample] = field(default_factory=list)
    errors: int = 0
    first_error: str | None = None
    client_cpu: float = 0.0

    @property
    def count(self) -> int:
        """Requests answered as expected."""
        return len(self.samples)

    @property
    def throughput(self) -> float:
        """Requests per second."""
        return self.count / self.wall if self.wall else 0.0

    def latency_ms(self, q: float) -> float:
        """A latency percentile in milliseconds."""
        return percentile([s.latency for s in self.samples], q) * 1000

    def ttft_ms(self, q: float) -> float | None:
        """A time-to-first-token percentile in milliseconds (streams only)."""
        values = [s.ttft for s in self.samples if s.ttft is not None]
        return percentile(values, q) * 1000 if values else None


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]


# A scenario step: sends one request on the connection, returns the sample (or raises).
Step = Callable[[Connection, int], Awaitable[Sample | None]]


async def run_closed_loop(
    name: str,
    host: str,
    port: int,
    *,
    concurrency: int,
    duration: float,
    step: Step,
    max_requests: int | None = None,
    warmup: float = 0.0,
) -> RunResult:
    """`concurrency` connections sending back to back for `duration` s (or `max_requests`)."""
    connections = [Connection(host, port) for _ in range(concurrency)]
    sent = 0
    result = RunResult(name, concurrency, 0.0)
    measuring = warmup <= 0
    stop_at = 0.0

    async def worker(index: int, conn: Connection) -> None:
        nonlocal sent
        while time.perf_counter() < stop_at:
            if max_requests is not None and sent >= max_requests:
                return
            sent += 1
            counted = measuring
            try:
                sample = await step(conn, index)
            except (HTTPError, OSError, asyncio.IncompleteReadError) as exc:
                if counted:
                    result.errors += 1
                    result.first_error = result.first_error or str(exc)
                await asyncio.sleep(0.01)
                continue
            if counted and sample is not None:
                result.samples.append(sample)

    if warmup > 0:
        stop_at = time.perf_counter() + warmup
        await asyncio.gather(*(worker(i, c) for i, c in enumerate(connections)))
        measuring = True
        sent = 0
    cpu_before = _own_cpu()
    started = time.perf_counter()
    stop_at = started + duration
    await asyncio.gather(*(worker(i, c) for i, c in enumerate(connections)))
    result.wall = time.perf_counter() - started
    result.client_cpu = _own_cpu() - cpu_before
    await asyncio.gather(*(c.close() for c in connections))
    return result


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def expect(response: Response, status: int, what: str) -> None:
    """Raise HTTPError unless the status is the expected one."""
    if response.status != status:
        raise HTTPError(f"{what}: HTTP {response.status}: {response.body[:200]!r}")


__all__ = [
    "Connection",
    "HTTPError",
    "Response",
    "RunResult",
    "Sample",
    "expect",
    "percentile",
    "run_closed_loop",
]
