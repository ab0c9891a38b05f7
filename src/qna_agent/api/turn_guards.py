"""What stands around a turn: token budget, message quota, stream slots, Idempotency-Key.

A retried `POST /chats/{id}/messages` with the same `Idempotency-Key` gets the turn its first
attempt began (waiting for it while it runs) instead of asking the agent twice; the same key
with a different question is a 422. The record is written in the same transaction as the
question, so of two concurrent duplicates exactly one starts a turn.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from qna_agent.chat import service
from qna_agent.chat.models import STATUS_FAILED, STATUS_IN_PROGRESS, Message
from qna_agent.chat.turns import BeforeCommit, Turn, TurnRunner
from qna_agent.config import Settings
from qna_agent.db.engine import Database
from qna_agent.errors import InvalidInput, RateLimited, ServiceUnavailable, UpstreamError
from qna_agent.security import idempotency
from qna_agent.security.keys import Principal
from qna_agent.security.quotas import check_message_quota
from qna_agent.security.setup import Security

POLL_SECONDS = 0.2
_charging: set[asyncio.Task[None]] = set()


@dataclass(frozen=True, slots=True)
class Replay:
    """A stored turn found through its Idempotency-Key."""

    user_message: Message | None
    message: Message


async def check_token_budget(security: Security, principal: Principal) -> None:
    """429 when the principal has used today's LLM tokens."""
    window = await security.limiter.tokens_left(principal.id)
    if window is not None and window.exhausted:
        raise RateLimited(
            f"today's budget of {window.limit} LLM tokens is used up; it renews at 00:00 UTC",
            retry_after=window.reset_seconds,
            limit=window.limit,
        )


def charge_tokens(turn: Turn, security: Security, principal: Principal) -> None:
    """Charge the turn's tokens to the principal's budget when it ends (even if unheard).

    Only this attempt's tokens: a retried message's stored usage includes the earlier attempts,
    which were charged when they ran."""

    async def charge() -> None:
        usage = (await turn.result()).usage
        await security.limiter.spend_tokens(
            principal.id, usage.prompt_tokens + usage.completion_tokens
        )

    _in_background(charge(), name=f"charge-{turn.assistant_message.id}")


def _in_background(work: Coroutine[Any, Any, None], *, name: str) -> None:
    task = asyncio.create_task(work, name=name)
    _charging.add(task)  # a reference, or the task may be collected before it runs
    task.add_done_callback(_charging.discard)


def release_stream_slot_when_done(turn: Turn, security: Security, principal: Principal) -> None:
    """A streamed turn holds its slot until it ends, even if the client left earlier."""
    assert turn.task is not None
    turn.task.add_done_callback(lambda _: security.streams.release(principal.id))


def take_stream_slot(security: Security, principal: Principal) -> None:
    """429 when the principal already has its most concurrent streams running here."""
    if not security.streams.acquire(principal.id):
        limit = security.streams.per_principal
        raise RateLimited(
            f"you already have {limit} streamed answers running; wait for one to finish",
            retry_after=1,
            limit=limit,
        )


def guard_turn(
    settings: Settings, principal: Principal, *, key: str | None, digest: str
) -> BeforeCommit:
    """Checks and records written in the turn's own transaction."""
    ttl = timedelta(seconds=settings.idempotency_ttl_seconds)

    def before_commit(conn: Connection, assistant: Message) -> None:
        check_message_quota(conn, chat_id=assistant.chat_id, limit=settings.max_messages_per_chat)
        if key is not None:
            idempotency.remember(
                conn,
                principal_id=principal.id,
                key=key,
                digest=digest,
                chat_id=assistant.chat_id,
                message_id=assistant.id,
                ttl=ttl,
            )

    return before_commit


async def find_replay(
    database: Database,
    turns: TurnRunner,
    settings: Settings,
    principal: Principal,
    *,
    key: str,
    digest: str,
) -> Replay | None:
    """The finished turn an earlier request with this key began (waiting while it runs)."""
    ttl = timedelta(seconds=settings.idempotency_ttl_seconds)
    async with database.sessions() as session:
        record = await idempotency.find(session, principal_id=principal.id, key=key, ttl=ttl)
    if record is None:
        return None
    if record.request_hash != digest:
        raise InvalidInput(
            "this Idempotency-Key was used for a different request; use a new key",
            field=idempotency.HEADER,
        )
    running = turns.running(record.message_id)
    if running is not None:
        await running.result()
    deadline = time.monotonic() + settings.agent_turn_timeout_seconds + 30
    while True:
        async with database.sessions() as session:
            message = await service.get_message(
                session, owner_id=principal.id, chat_id=record.chat_id, message_id=record.message_id
            )
            user = await session.get(Message, message.parent_id) if message.parent_id else None
        if message.status != STATUS_IN_PROGRESS:
            return Replay(user, message)
        if time.monotonic() > deadline:  # the turn's owner died; the sweep will fail it
            raise ServiceUnavailable("the original request is still unfinished; retry later")
        await asyncio.sleep(POLL_SECONDS)


async def start_once(
    database: Database,
    turns: TurnRunner,
    settings: Settings,
    principal: Principal,
    *,
    chat_id: uuid.UUID,
    content: str,
    stream: bool,
    key: str | None,
) -> Turn | Replay:
    """Start a turn, or find the one this Idempotency-Key already started."""
    digest = idempotency.request_hash(chat_id=chat_id, content=content)
    if key is not None:
        replay = await find_replay(database, turns, settings, principal, key=key, digest=digest)
        if replay is not None:
            return replay
    try:
        return await turns.start(
            owner_id=principal.id,
            chat_id=chat_id,
            content=content,
            stream=stream,
            before_commit=guard_turn(settings, principal, key=key, digest=digest),
        )
    except IntegrityError:
        if key is None:
            raise
    # A concurrent request with the same key committed first: join its turn.
    replay = await find_replay(database, turns, settings, principal, key=key, digest=digest)
    if replay is None:
        raise ServiceUnavailable("the Idempotency-Key is busy; retry")
    return replay


def replay_error(message: Message) -> UpstreamError | None:
    """The problem a failed stored turn is answered with again."""
    if message.status != STATUS_FAILED:
        return None
    return UpstreamError(message.error or "the turn failed", message_id=str(message.id))
