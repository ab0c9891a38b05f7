"""Resilience around any ChatModel: retries with backoff and jitter, and a circuit breaker
(`retry.py` says what is retried and how long to wait; `breaker.py` holds the breaker).

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
from collections.abc import AsyncIterator, Sequence

import structlog

from qna_agent.agent.models.breaker import CircuitBreaker
from qna_agent.agent.models.protocol import ChatModel
from qna_agent.agent.models.retry import (
    RetryPolicy,
    counts_against_provider,
    is_retryable,
    retry_after_seconds,
)
from qna_agent.agent.types import ChatMessage, ModelResponse, TextDelta, ToolSpec
from qna_agent.errors import QnaError

log = structlog.get_logger(__name__)


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
