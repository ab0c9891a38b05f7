"""A circuit breaker for the language model: stop calling a provider that keeps failing.

Consecutive failures of a live-or-dead kind open it; while open, calls fail at once with
`UpstreamUnavailable` (503) instead of waiting on a dead provider; after the reset time one
trial call decides whether it closes again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

import structlog

from qna_agent.errors import ServiceUnavailable

log = structlog.get_logger(__name__)

BreakerState = Literal["closed", "open", "half_open"]


class UpstreamUnavailable(ServiceUnavailable):
    """The circuit breaker is open: the provider failed repeatedly and is not called now."""

    title = "Upstream unavailable"


class CircuitBreaker:
    """Closed -> open after `failure_threshold` consecutive failures -> half-open after
    `reset_seconds` (one trial call) -> closed on success, open again on failure."""

    def __init__(
        self,
        *,
        failure_threshold: int,
        reset_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> BreakerState:
        """The state now."""
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self.reset_seconds:
            return "half_open"
        return "open"

    def before_call(self) -> None:
        """Raise UpstreamUnavailable unless a call may go out now."""
        state = self.state
        if state == "closed":
            return
        if state == "half_open" and not self._trial_running:
            self._trial_running = True
            return
        assert self._opened_at is not None
        wait = max(self.reset_seconds - (self._clock() - self._opened_at), 1.0)
        raise UpstreamUnavailable(
            "the language model failed repeatedly; calls are paused (circuit breaker open)",
            upstream="llm",
            retry_after=round(wait),
        )

    def record_success(self) -> None:
        """A call succeeded: close."""
        if self._opened_at is not None:
            log.info("llm_breaker_closed")
        self._failures = 0
        self._opened_at = None
        self._trial_running = False

    def record_failure(self) -> None:
        """A call failed in a way that counts: open once the threshold is reached."""
        self._failures += 1
        trial_failed = self._trial_running
        self._trial_running = False
        if trial_failed or self._failures >= self.failure_threshold:
            if self._opened_at is None or trial_failed:
                log.warning("llm_breaker_opened", failures=self._failures)
            self._opened_at = self._clock()

    def release_trial(self) -> None:
        """The trial call ended without a verdict (a 4xx, or it was cancelled)."""
        self._trial_running = False
