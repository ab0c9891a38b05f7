"""Failed authentications per client address: counted like the rate limits, blocked locally.

Each failure adds one to the address's window in the shared counter (memory, or Redis across
replicas). Once a window is full, this replica also remembers the block in memory until the
window ends, so a blocked address is answered 429 without a key lookup and without a network
round trip; the other replicas learn of it from the counter on the address's next failure.
Valid requests never touch the counter, so the limit costs them nothing.

IPv6 clients are counted by /64, the block one subscriber usually gets, so walking through
the addresses of one's own prefix does not reset the limit.
"""

from __future__ import annotations

import ipaddress

import structlog

from qna_agent.security.ratelimit import MINUTE, Counter, Window, window_bounds

log = structlog.get_logger(__name__)

IPV6_PREFIX = 64
UNKNOWN_ADDRESS = "unknown"


def address_bucket(address: str) -> str:
    """The counter key of a client address: IPv4 as is, IPv6 by its /64, anything else whole."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:64] or UNKNOWN_ADDRESS
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/{IPV6_PREFIX}", strict=False))
    return str(parsed)


class AuthFailureLimiter:
    """At most `per_minute` failed authentications per client address and minute."""

    def __init__(self, counter: Counter, *, per_minute: int, max_blocked: int = 10_000) -> None:
        self.counter = counter
        self.per_minute = per_minute
        self._max_blocked = max_blocked
        # bucket -> (window index, failures seen): this replica's memory of full windows
        self._blocked: dict[str, tuple[int, int]] = {}

    def blocked(self, address: str) -> Window | None:
        """The full window of `address` known to this replica, or None (no I/O)."""
        if not self.per_minute:
            return None
        bucket = address_bucket(address)
        known = self._blocked.get(bucket)
        if known is None:
            return None
        index, reset = window_bounds(MINUTE)
        if known[0] != index:
            del self._blocked[bucket]
            return None
        return Window(self.per_minute, known[1], reset)

    async def failed(self, address: str) -> Window | None:
        """Count one failure of `address`; None when unlimited or the counter is unreachable."""
        if not self.per_minute:
            return None
        bucket = address_bucket(address)
        try:
            used, reset = await self.counter.add(f"authfail:{bucket}", 1, window_seconds=MINUTE)
        except Exception as exc:  # fail open, like the other limits: see ratelimit.py
            log.warning("rate_limit_unavailable", error=type(exc).__name__)
            return None
        window = Window(self.per_minute, used, reset)
        if window.exhausted:
            self._remember(bucket, used)
        return window

    def _remember(self, bucket: str, used: int) -> None:
        index, _ = window_bounds(MINUTE)
        previous = self._blocked.get(bucket)
        if previous is None and len(self._blocked) >= self._max_blocked:
            # Forget ended windows first; if every entry is current, forget the oldest one.
            self._blocked = {k: v for k, v in self._blocked.items() if v[0] == index}
            if len(self._blocked) >= self._max_blocked:
                del self._blocked[next(iter(self._blocked))]
        if previous is None or previous[0] != index:
            log.warning("auth_failures_blocked", address=bucket, failures=used)
        self._blocked[bucket] = (index, used)
