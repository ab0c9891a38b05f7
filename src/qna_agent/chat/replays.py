"""Idempotency-Key replays: the stored turn an earlier request with the same key began.

A retried `POST /chats/{id}/messages` with the same `Idempotency-Key` gets the turn its first
attempt began (waiting for it while it runs) instead of asking the agent twice; the same key
with a different question is a 422. The record is written in the same transaction as the
question (`engine.py`), so of two concurrent duplicates exactly one starts a turn.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import timedelta

from qna_agent.chat import service
from qna_agent.chat.models import STATUS_FAILED, STATUS_IN_PROGRESS, Message
from qna_agent.chat.runner import TurnRunner
from qna_agent.db.engine import Database
from qna_agent.errors import InvalidInput, ServiceUnavailable, UpstreamError
from qna_agent.security import idempotency

POLL_SECONDS = 0.2


@dataclass(frozen=True, slots=True)
class Replay:
    """A stored turn found through its Idempotency-Key."""

    user_message: Message | None
    message: Message

    def error(self) -> UpstreamError | None:
        """The problem a failed stored turn is answered with again."""
        if self.message.status != STATUS_FAILED:
            return None
        return UpstreamError(
            self.message.error or "the turn failed", message_id=str(self.message.id)
        )


async def find_replay(
    database: Database,
    runner: TurnRunner,
    *,
    owner_id: str,
    key: str,
    digest: str,
    ttl: timedelta,
    wait_seconds: float,
) -> Replay | None:
    """The finished turn an earlier request with this key began (waiting while it runs)."""
    async with database.sessions() as session:
        record = await idempotency.find(session, principal_id=owner_id, key=key, ttl=ttl)
    if record is None:
        return None
    if record.request_hash != digest:
        raise InvalidInput(
            "this Idempotency-Key was used for a different request; use a new key",
            field=idempotency.HEADER,
        )
    running = runner.running(record.message_id)
    if running is not None:
        await running.result()
    deadline = time.monotonic() + wait_seconds
    while True:
        async with database.sessions() as session:
            message = await service.get_message(
                session, owner_id=owner_id, chat_id=record.chat_id, message_id=record.message_id
            )
            user = await session.get(Message, message.parent_id) if message.parent_id else None
        if message.status != STATUS_IN_PROGRESS:
            return Replay(user, message)
        if time.monotonic() > deadline:  # the turn's owner died; the sweep will fail it
            raise ServiceUnavailable("the original request is still unfinished; retry later")
        await asyncio.sleep(POLL_SECONDS)
