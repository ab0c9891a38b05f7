"""Per-principal rate limits: fixed windows counted in memory or in Redis.

The same counters hold the failed authentications per client address (`auth_failures`).

Windows are aligned to the epoch (a minute starts at :00, a day at 00:00 UTC), so replicas
sharing Redis count the same window. When Redis fails, requests are let through and a warning
is logged: a limiter outage must not become a service outage.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import structlog

log = structlog.get_logger(__name__)

KEY_NAMESPACE = "qna:rl:"


@dataclass(frozen=True, slots=True)
class Window:
    """The state of one counter after a request."""

    limit: int
    used: int
    reset_seconds: int

    @property
    def allowed(self) -> bool:
        """Whether the request fits in the window."""
        return self.used <= self.limit

    @property
    def exhausted(self) -> bool:
        """Whether nothing more fits (for limits checked before counting)."""
        return self.used >= self.limit

    @property
    def remaining(self) -> int:
        """How many more fit in the window."""
        return max(0, self.limit - self.used)


def window_bounds(window_seconds: int, now: float | None = None) -> tuple[int, int]:
    """The index of the current window and the seconds until it ends."""
    now = time.time() if now is None else now
    index = int(now // window_seconds)
    reset = max(1, int((index + 1) * window_seconds - now + 0.999))
    return index, reset


class Counter(Protocol):
    """A store of windowed counters."""

    async def add(self, key: str, amount: int, *, window_seconds: int) -> tuple[int, int]:
        """Add `amount` to the current window's counter; returns (new total, reset seconds)."""
        ...

    async def get(self, key: str, *, window_seconds: int) -> tuple[int, int]:
        """The current window's total and the seconds until it resets."""
        ...

    async def take(
        self, key: str, amount: int, *, limit: int, window_seconds: int
    ) -> tuple[bool, int, int]:
        """Add `amount` only if the total stays within `limit`, atomically; returns (taken,
        total after, reset seconds)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class MemoryCounter:
    """Counters in this process's memory (one replica)."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._counts: dict[str, int] = {}
        self._max_keys = max_keys

    def _slot(self, key: str, window_seconds: int) -> tuple[str, int]:
        index, reset = window_bounds(window_seconds)
        return f"{key}:{window_seconds}:{index}", reset

    async def add(self, key: str, amount: int, *, window_seconds: int) -> tuple[int, int]:
        slot, reset = self._slot(key, window_seconds)
        if slot not in self._counts and len(self._counts) >= self._max_keys:
            self._prune()
        self._counts[slot] = self._counts.get(slot, 0) + amount
        return self._counts[slot], reset

    async def get(self, key: str, *, window_seconds: int) -> tuple[int, int]:
        slot, reset = self._slot(key, window_seconds)
        return self._counts.get(slot, 0), reset

    async def take(
        self, key: str, amount: int, *, limit: int, window_seconds: int
    ) -> tuple[bool, int, int]:
        # No await between the read and the write: atomic within the event loop.
        used, reset = await self.get(key, window_seconds=window_seconds)
        if used + amount > limit:
            return False, used, reset
        total, reset = await self.add(key, amount, window_seconds=window_seconds)
        return True, total, reset

    def _prune(self) -> None:
        """Forget windows that have ended (keys end with `:<window>:<index>`)."""
        now = time.time()
        for slot in list(self._counts):
            window, index = slot.rsplit(":", 2)[1:]
            if (int(index) + 1) * int(window) <= now:
                del self._counts[slot]

    async def aclose(self) -> None:
        self._counts.clear()


# Check and add in one step on the server, so replicas never both take the last tokens.
_TAKE_SCRIPT = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local amount = tonumber(ARGV[1])
if used + amount > tonumber(ARGV[2]) then return {0, used} end
used = redis.call('INCRBY', KEYS[1], amount)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return {1, used}
"""


class RedisCounter:
    """Counters in Redis, shared by every replica."""

    def __init__(self, url: str) -> None:
        from redis.asyncio import Redis

        self._redis = Redis.from_url(
            url, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=30
        )

    async def add(self, key: str, amount: int, *, window_seconds: int) -> tuple[int, int]:
        index, reset = window_bounds(window_seconds)
        slot = f"{KEY_NAMESPACE}{key}:{window_seconds}:{index}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incrby(slot, amount)
            pipe.expire(slot, window_seconds + 60)
            total, _ = await pipe.execute()
        return int(total), reset

    async def get(self, key: str, *, window_seconds: int) -> tuple[int, int]:
        index, reset = window_bounds(window_seconds)
        value = await self._redis.get(f"{KEY_NAMESPACE}{key}:{window_seconds}:{index}")
        return int(value or 0), reset

    async def take(
        self, key: str, amount: int, *, limit: int, window_seconds: int
    ) -> tuple[bool, int, int]:
        index, reset = window_bounds(window_seconds)
        slot = f"{KEY_NAMESPACE}{key}:{window_seconds}:{index}"
        taken, used = await self._redis.eval(
            _TAKE_SCRIPT, 1, slot, amount, limit, window_seconds + 60
        )
        return bool(taken), int(used), reset

    async def ping(self) -> bool:
        """Whether Redis answers."""
        return bool(await self._redis.ping())

    async def aclose(self) -> None:
        await self._redis.aclose()


MINUTE = 60
DAY = 86_400


class RateLimiter:
    """Requests per minute, per principal (the daily token budget is `budget.py`)."""

    def __init__(self, counter: Counter, *, requests_per_minute: int) -> None:
        self.counter = counter
        self.requests_per_minute = requests_per_minute

    async def hit(self, principal_id: str) -> Window | None:
        """Count one request; None when unlimited or the counter is unreachable."""
        if not self.requests_per_minute:
            return None
        try:
            used, reset = await self.counter.add(f"req:{principal_id}", 1, window_seconds=MINUTE)
        except Exception as exc:  # fail open: see the module docstring
            log.warning("rate_limit_unavailable", error=type(exc).__name__)
            return None
        return Window(self.requests_per_minute, used, reset)

    async def aclose(self) -> None:
        """Release the counter's connections."""
        await self.counter.aclose()


def build_counter(redis_url: str | None) -> Counter:
    """Counters on Redis when a URL is given, else in memory."""
    return RedisCounter(redis_url) if redis_url else MemoryCounter()


class ConcurrencySlots:
    """How many of something (streams) each principal has open in this process."""

    def __init__(self, per_principal: int) -> None:
        self.per_principal = per_principal
        self._open: dict[str, int] = {}

    def acquire(self, principal_id: str) -> bool:
        """Take a slot; False when the principal has none left."""
        count = self._open.get(principal_id, 0)
        if count >= self.per_principal:
            return False
        self._open[principal_id] = count + 1
        return True

    def release(self, principal_id: str) -> None:
        """Give a slot back."""
        count = self._open.get(principal_id, 0) - 1
        if count > 0:
            self._open[principal_id] = count
        else:
            self._open.pop(principal_id, None)

    def open(self, principal_id: str) -> int:
        """Slots in use."""
        return self._open.get(principal_id, 0)
