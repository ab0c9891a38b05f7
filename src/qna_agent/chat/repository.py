"""Queries on chats and messages. Every chat query is scoped to its owner."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Literal, cast

from sqlalchemy import Connection, Row, Table, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from qna_agent.chat.models import (
    ROLE_ASSISTANT,
    ROLE_USER,
    STATUS_COMPLETED,
    STATUS_FAILED,
    STATUS_IN_PROGRESS,
    Chat,
    Message,
)
from qna_agent.db.base import utcnow
from qna_agent.errors import NotFound

MESSAGES = cast(Table, Message.__table__)
CHATS = cast(Table, Chat.__table__)


async def get_chat(session: AsyncSession, *, owner_id: str, chat_id: uuid.UUID) -> Chat:
    """The chat, if it exists and belongs to `owner_id`; otherwise NotFound."""
    chat = await session.scalar(select(Chat).where(Chat.id == chat_id, Chat.owner_id == owner_id))
    if chat is None:
        raise NotFound(f"chat {chat_id} not found", resource="chat")
    return chat


async def list_chats(
    session: AsyncSession, *, owner_id: str, limit: int, after: uuid.UUID | None
) -> Sequence[Chat]:
    """Up to `limit` chats, newest first, starting after the chat `after`."""
    query = select(Chat).where(Chat.owner_id == owner_id)
    if after is not None:
        query = query.where(Chat.id < after)
    return (await session.scalars(query.order_by(Chat.id.desc()).limit(limit))).all()


def list_messages(
    conn: Connection,
    *,
    chat_id: uuid.UUID,
    limit: int,
    after: uuid.UUID | None,
    order: Literal["asc", "desc"],
) -> list[Message]:
    """Up to `limit` messages of a chat in `order`, starting after the message `after` (a unit
    of work: detached Messages, no identity map)."""
    query = select(*MESSAGES.c).where(MESSAGES.c.chat_id == chat_id)
    if after is not None:
        query = query.where(MESSAGES.c.id > after if order == "asc" else MESSAGES.c.id < after)
    ordering = MESSAGES.c.id.asc() if order == "asc" else MESSAGES.c.id.desc()
    return [message_from_row(row) for row in conn.execute(query.order_by(ordering).limit(limit))]


def message_exists(conn: Connection, *, chat_id: uuid.UUID, message_id: uuid.UUID) -> bool:
    """Whether the chat has this message (a unit of work)."""
    found = conn.execute(
        select(MESSAGES.c.id).where(MESSAGES.c.id == message_id, MESSAGES.c.chat_id == chat_id)
    ).first()
    return found is not None


async def get_message(
    session: AsyncSession, *, chat_id: uuid.UUID, message_id: uuid.UUID
) -> Message:
    """One message of a chat, or NotFound."""
    message = await session.scalar(
        select(Message).where(Message.id == message_id, Message.chat_id == chat_id)
    )
    if message is None:
        raise NotFound(f"message {message_id} not found", resource="message")
    return message


def conversation(
    conn: Connection, *, chat_id: uuid.UUID, before: uuid.UUID, limit: int
) -> list[tuple[str, str]]:
    """Role and content of the last `limit` exchanged messages before `before`, oldest first,
    for the model (a unit of work: only the two columns, no JSON to decode)."""
    if limit == 0:
        return []
    rows = conn.execute(
        select(MESSAGES.c.role, MESSAGES.c.content)
        .where(
            MESSAGES.c.chat_id == chat_id,
            MESSAGES.c.id < before,
            (MESSAGES.c.role == ROLE_USER)
            | ((MESSAGES.c.role == ROLE_ASSISTANT) & (MESSAGES.c.status == STATUS_COMPLETED)),
        )
        .order_by(MESSAGES.c.id.desc())
        .limit(limit)
    ).all()
    return [(str(role), str(content)) for role, content in reversed(rows)]


def chat_exists(conn: Connection, *, owner_id: str, chat_id: uuid.UUID) -> None:
    """NotFound unless the chat exists and belongs to `owner_id` (a unit of work)."""
    found = conn.execute(
        select(CHATS.c.id).where(CHATS.c.id == chat_id, CHATS.c.owner_id == owner_id)
    ).first()
    if found is None:
        raise NotFound(f"chat {chat_id} not found", resource="chat")


def new_message(**values: Any) -> dict[str, Any]:
    """Every column of a new message row: the given values over the defaults."""
    now = utcnow()
    row: dict[str, Any] = {
        "parent_id": None,
        "content": "",
        "error": None,
        "citations": [],
        "tool_calls": [],
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cost_micros": 0,
        "model": None,
        "latency_ms": None,
        "created_at": now,
        "updated_at": now,
    }
    row.update(values)
    return row


def insert_messages(conn: Connection, rows: list[dict[str, Any]]) -> list[Message]:
    """Insert complete message rows (`new_message`) in one statement; the detached Messages."""
    conn.execute(insert(MESSAGES), rows)
    return [Message(**row) for row in rows]


def message_from_row(row: Row[Any]) -> Message:
    """A (detached) Message from a row of all of the table's columns."""
    return Message(**row._asdict())


def finish_message(conn: Connection, *, message_id: uuid.UUID, values: dict[str, Any]) -> Message:
    """Write the outcome of an assistant message and return the row (a unit of work)."""
    statement = update(MESSAGES).where(MESSAGES.c.id == message_id).values(**values)
    if conn.dialect.update_returning:  # one statement instead of two
        row = conn.execute(statement.returning(*MESSAGES.c)).first()
    else:  # SQLite before 3.35
        conn.execute(statement)
        row = conn.execute(select(*MESSAGES.c).where(MESSAGES.c.id == message_id)).first()
    if row is None:  # the chat was deleted while the turn ran
        raise NotFound(f"message {message_id} not found", resource="message")
    return message_from_row(row)


async def reopen_failed(session: AsyncSession, *, message_id: uuid.UUID) -> Message | None:
    """Set a failed assistant message back to `in_progress` (atomically); None if not failed."""
    result = await session.execute(
        update(Message)
        .where(Message.id == message_id, Message.status == STATUS_FAILED)
        .values(status=STATUS_IN_PROGRESS, error=None, content="", updated_at=utcnow())
    )
    if not getattr(result, "rowcount", 0):
        return None
    return await session.get(Message, message_id, populate_existing=True)


async def chat_usage(session: AsyncSession, *, chat_id: uuid.UUID) -> tuple[int, int, int, int]:
    """Totals of a chat's assistant messages: prompt and completion tokens, cost, count."""
    row = (
        await session.execute(
            select(
                func.coalesce(func.sum(Message.prompt_tokens), 0),
                func.coalesce(func.sum(Message.completion_tokens), 0),
                func.coalesce(func.sum(Message.cost_micros), 0),
                func.count(),
            ).where(Message.chat_id == chat_id, Message.role == ROLE_ASSISTANT)
        )
    ).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


def _stale(
    updated_before: datetime, message_id: uuid.UUID | None, exclude: Collection[uuid.UUID]
) -> list[Any]:
    conditions = [Message.status == STATUS_IN_PROGRESS, Message.updated_at < updated_before]
    if message_id is not None:
        conditions.append(Message.id == message_id)
    if exclude:
        conditions.append(Message.id.not_in(exclude))
    return conditions


async def count_stale_turns(
    session: AsyncSession, *, updated_before: datetime, exclude: Collection[uuid.UUID] = ()
) -> int:
    """How many in-progress messages have a heartbeat older than the cutoff (a read only)."""
    count = await session.scalar(
        select(func.count()).select_from(Message).where(*_stale(updated_before, None, exclude))
    )
    return int(count or 0)


async def fail_stale_turns(
    session: AsyncSession,
    *,
    updated_before: datetime,
    reason: str,
    message_id: uuid.UUID | None = None,
    exclude: Collection[uuid.UUID] = (),
) -> int:
    """Mark in-progress messages whose heartbeat is older than a cutoff as failed (all but
    `exclude`, or just `message_id`); returns how many."""
    result = await session.execute(
        update(Message)
        .where(*_stale(updated_before, message_id, exclude))
        .values(status=STATUS_FAILED, error=reason, updated_at=utcnow())
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def touch_turns(
    session: AsyncSession, *, message_ids: Sequence[uuid.UUID], now: datetime
) -> list[uuid.UUID]:
    """The heartbeat: one UPDATE marks every listed in-progress message alive. Returns those
    of them another process asked to stop (see `request_stop`)."""
    running = (Message.id.in_(message_ids), Message.status == STATUS_IN_PROGRESS)
    await session.execute(update(Message).where(*running).values(updated_at=now))
    rows = await session.scalars(select(Message.id).where(*running, Message.error.is_not(None)))
    return list(rows.all())


async def request_stop(session: AsyncSession, *, message_id: uuid.UUID, reason: str) -> bool:
    """Record that the in-progress message should stop (its `error` is set while it is still
    `in_progress`); False if it is not in progress."""
    result = await session.execute(
        update(Message)
        .where(Message.id == message_id, Message.status == STATUS_IN_PROGRESS)
        # `updated_at` is the heartbeat: a stop request must not make an orphan look alive.
        .values(error=reason, updated_at=Message.updated_at)
    )
    return bool(getattr(result, "rowcount", 0))


async def delete_chat(session: AsyncSession, *, chat: Chat) -> None:
    """Delete a chat and its messages."""
    await session.execute(delete(Message).where(Message.chat_id == chat.id))
    await session.delete(chat)
