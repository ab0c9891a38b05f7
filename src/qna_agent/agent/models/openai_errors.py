"""The OpenAI SDK's failures as domain errors, with what the retry policy needs to know.

The HTTP status and the provider's `Retry-After` travel on the error, so `ResilientModel` can
tell a dead provider from a busy one and wait as long as it was asked to.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp
import openai

from qna_agent.errors import UpstreamError, UpstreamTimeout


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _refused_not_timed_out(exc: BaseException) -> bool:
    """Whether an SDK "timeout" is really a connection that failed at once.

    The aiohttp transport the SDK ships maps every aiohttp connection error, a refused
    connection included, to httpx's ConnectTimeout; a dead endpoint is not a slow one.
    """
    cause = exc.__cause__ or exc.__context__
    while cause is not None:
        if isinstance(cause, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
            return False
        if isinstance(cause, aiohttp.ClientConnectionError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def upstream_error(exc: openai.OpenAIError) -> Exception:
    """The domain error for a failure the SDK reported (status, retry-after and all)."""
    if isinstance(exc, openai.APITimeoutError) and _refused_not_timed_out(exc):
        return UpstreamError("cannot reach the language model endpoint", upstream="llm")
    if isinstance(exc, openai.APITimeoutError):
        return UpstreamTimeout("the language model did not answer in time", upstream="llm")
    if isinstance(exc, openai.APIConnectionError):
        return UpstreamError("cannot reach the language model endpoint", upstream="llm")
    if isinstance(exc, openai.APIStatusError):
        extra: dict[str, object] = {"upstream_status": exc.status_code}
        retry_after = parse_retry_after(exc.response.headers.get("retry-after"))
        if retry_after is not None:
            extra["retry_after"] = retry_after
        return UpstreamError(
            f"the language model endpoint answered HTTP {exc.status_code}",
            upstream="llm",
            **extra,
        )
    return UpstreamError(f"the language model call failed: {type(exc).__name__}", upstream="llm")
