"""Writing a turn's outcome so that it is stored whatever the database says.

PostgreSQL refuses NUL characters in text and JSONB (`invalid byte sequence`, `unsupported
Unicode escape sequence`), and a tool result, a model's answer or a question may contain one (a
SQL result of `chr(0)`): every string a turn stores goes through `without_nul`. A connection
blip at the final commit is retried for a moment; when the outcome still cannot be written, a
minimal `failed` record with the reason is tried, so the row does not stay `in_progress`.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

import structlog
from sqlalchemy import exc as sa_exc

from qna_agent.chat import repository
from qna_agent.chat.models import STATUS_FAILED, Message
from qna_agent.db.base import utcnow
from qna_agent.db.engine import Database

log = structlog.get_logger(__name__)

NUL = "\x00"
# Waits between attempts of the final write: a failover or a dropped pooled connection heals
# in well under two seconds, and the turn's listeners are waiting for its last event.
STORE_RETRY_DELAYS: Sequence[float] = (0.2, 0.5, 1.0)
# Errors that may go away when tried again (a dropped connection, a locked SQLite file);
# anything else (a value the database rejects) fails the same way every time.
TRANSIENT_ERRORS = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    ConnectionError,
    TimeoutError,
)

T = TypeVar("T")


def is_transient(exc: BaseException) -> bool:
    """Whether trying the same write again may succeed."""
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, TRANSIENT_ERRORS)


def without_nul(value: T) -> T:
    """`value` with NUL characters removed from every string in it (dict keys included)."""
    if isinstance(value, str):
        return value.replace(NUL, "")  # type: ignore[return-value]
    if isinstance(value, dict):
        return {without_nul(k): without_nul(v) for k, v in value.items()}  # type: ignore[return-value]
    if isinstance(value, list | tuple):
        return type(value)(without_nul(item) for item in value)
    return value


async def write(database: Database, message_id: uuid.UUID, values: dict[str, Any]) -> Message:
    """Write `values` into the message, retrying transient errors briefly; NotFound if gone."""
    values = without_nul(values)
    delays = iter(STORE_RETRY_DELAYS)
    while True:
        try:
            return await database.write(
                functools.partial(repository.finish_message, message_id=message_id, values=values)
            )
        except Exception as exc:
            delay = next(delays, None) if is_transient(exc) else None
            if delay is None:
                raise
            log.warning("turn_store_retried", error=type(exc).__name__, delay_s=delay)
            await asyncio.sleep(delay)


async def write_failure(database: Database, message_id: uuid.UUID, reason: str) -> Message:
    """The smallest record of a failed turn: status and reason (for when the full one failed)."""
    values = {"status": STATUS_FAILED, "error": reason, "updated_at": utcnow()}
    return await write(database, message_id, values)


__all__ = ["NUL", "STORE_RETRY_DELAYS", "without_nul", "write", "write_failure"]
