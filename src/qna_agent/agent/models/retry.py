"""When a failed model call is worth trying again, and how long to wait before it."""

from __future__ import annotations

import random
from dataclasses import dataclass

from qna_agent.errors import QnaError, UpstreamError, UpstreamTimeout

RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently a failed call is tried again."""

    max_retries: int = 2
    base_seconds: float = 0.5
    max_seconds: float = 8.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before retry number `attempt` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_seconds)
        ceiling = min(self.base_seconds * 2 ** (attempt - 1), self.max_seconds)
        return rng.uniform(0, ceiling)  # full jitter: spreads clients that failed together


def is_retryable(error: QnaError) -> bool:
    """Whether trying the same call again may succeed."""
    if isinstance(error, UpstreamTimeout):
        return True
    if not isinstance(error, UpstreamError):
        return False
    status = error.extra.get("upstream_status")
    return status is None or status in RETRYABLE_STATUSES


def counts_against_provider(error: QnaError) -> bool:
    """Whether the failure suggests the provider is down (a 4xx, even 429, says it is alive)."""
    if isinstance(error, UpstreamTimeout):
        return True
    if not isinstance(error, UpstreamError):
        return False
    status = error.extra.get("upstream_status")
    return status is None or (isinstance(status, int) and status >= 500)


def retry_after_seconds(error: QnaError) -> float | None:
    """The provider's `Retry-After`, when the error carried one."""
    value = error.extra.get("retry_after")
    return float(value) if isinstance(value, int | float) else None
