"""Domain errors. Services raise these; `api/errors.py` maps each class to one HTTP status.

Imports nothing internal, so every layer may raise them.
"""

from __future__ import annotations

from typing import Any


class QnaError(Exception):
    """Base of every expected error. `detail` is safe to show to the client."""

    title = "Error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(QnaError):
    """The resource does not exist (or is not visible to the caller)."""

    title = "Not found"


class Conflict(QnaError):
    """The request conflicts with the resource's current state."""

    title = "Conflict"


class InvalidInput(QnaError):
    """A value the schema accepted is still not acceptable (an unknown cursor, say)."""

    title = "Invalid input"

    def __init__(self, detail: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.field = field


class PayloadTooLarge(QnaError):
    """The request body or one of its values is larger than allowed."""

    title = "Payload too large"


class UpstreamError(QnaError):
    """A dependency (the LLM provider) failed or answered nonsense."""

    title = "Upstream failure"


class UpstreamTimeout(QnaError):
    """A dependency, or the whole turn, ran out of time."""

    title = "Upstream timeout"


class ServiceUnavailable(QnaError):
    """The service cannot take the request now (database down, shutting down)."""

    title = "Service unavailable"


class Unauthorized(QnaError):
    """No valid credentials were presented."""

    title = "Unauthorized"


class Forbidden(QnaError):
    """The caller is known but may not do this."""

    title = "Forbidden"


class RateLimited(QnaError):
    """Too many requests (or tokens) for now; `retry_after` seconds until it is worth retrying."""

    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int, **extra: Any) -> None:
        super().__init__(detail, **extra)
        self.retry_after = max(1, retry_after)


class QuotaExceeded(QnaError):
    """A lasting limit is reached (chats per principal, messages per chat)."""

    title = "Quota exceeded"
