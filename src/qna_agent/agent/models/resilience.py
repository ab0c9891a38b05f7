"""Resilience around any ChatModel: retries with backoff and jitter, and a circuit breaker.

`ResilientModel` wraps a provider. A call that fails with a retryable error (HTTP 408/409/429/5xx,
a timeout, a connection error) is tried again after an exponentially growing, fully jittered
delay, or after the provider's `Retry-After` when it gave one (both capped). Consecutive
failures of a live-or-dead kind (5xx, timeouts, connection errors; not 4xx, which say the
provider is alive) open the breaker: calls then fail at once with `UpstreamUnavailable` (503)
until the reset time has passed, when one trial call decides whether it closes again.

A stream is retried only until its first piece of text went out; after that a failure is final,
because the listener cannot take text back.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import structlog

from qna_agent.agent.models.protocol import ChatModel
from qna_agent.agent.types import ChatMessage, ModelResponse, TextDelta, ToolSpec
from qna_agent.errors import QnaError, ServiceUnavailable, UpstreamError, UpstreamTimeout

log = structlog.get_logger(__name__)

RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
BreakerState = Literal["closed", "open", "half_open"]


class UpstreamUnavailable(ServiceUnavailable):
    """The circuit breaker is open: the provider failed repeatedly and is not called now."""

    title = "Upstream unavailable"


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


class ResilientModel:
    """A ChatModel that retries its provider's transient failures behind a circuit breaker."""

    def __init__(
        self,
        inner: ChatModel,
        *,
        policy: RetryPolicy,
        breaker: CircuitBreaker,
        rng: random.Random | None = None,
    ) -> None:
        self.inner = inner
        self.policy = policy
        self.breaker = breaker
        self.provider = inner.provider
        self.model = inner.model
        self._rng = rng or random.Random()

    async def complete(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> ModelResponse:
        """One step, answered whole, retried as the policy allows."""
        attempt = 0
        while True:
            self.breaker.before_call()
            try:
                response = await self.inner.complete(messages, tools)
            except QnaError as error:
                attempt = await self._after_failure(error, attempt)
                continue
            except BaseException:
                self.breaker.release_trial()
                raise
            self.breaker.record_success()
            return response

    async def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> AsyncIterator[TextDelta | ModelResponse]:
        """One step, streamed; retried only while nothing has been yielded."""
        attempt = 0
        while True:
            self.breaker.before_call()
            yielded = False
            try:
                async for item in self.inner.stream(messages, tools):
                    if isinstance(item, ModelResponse):
                        self.breaker.record_success()
                    yielded = True
                    yield item
                return
            except QnaError as error:
                if yielded:
                    self._count(error)
                    raise
                attempt = await self._after_failure(error, attempt)
            except BaseException:
                self.breaker.release_trial()
                raise

    def _count(self, error: QnaError) -> None:
        if counts_against_provider(error):
            self.breaker.record_failure()
        else:
            self.breaker.release_trial()

    async def _after_failure(self, error: QnaError, attempt: int) -> int:
        """Count the failure; sleep and return the next attempt number, or raise."""
        self._count(error)
        attempt += 1
        if not is_retryable(error) or attempt > self.policy.max_retries:
            raise error
        if self.breaker.state != "closed":
            raise error
        delay = self.policy.delay(attempt, retry_after_seconds(error), self._rng)
        log.warning(
            "llm_call_retried",
            attempt=attempt,
            delay_s=round(delay, 3),
            error=error.detail,
        )
        await asyncio.sleep(delay)
        return attempt

    async def aclose(self) -> None:
        """Release the provider's connections."""
        await self.inner.aclose()
