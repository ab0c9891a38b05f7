"""Lasting limits: chats per principal, messages per chat."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from qna_agent.chat.models import Chat, Message
from qna_agent.errors import QuotaExceeded


async def check_chat_quota(session: AsyncSession, *, owner_id: str, limit: int) -> None:
    """Refuse a new chat when the owner already has `limit`."""
    count = await session.scalar(
        select(func.count()).select_from(Chat).where(Chat.owner_id == owner_id)
    )
    if (count or 0) >= limit:
        raise QuotaExceeded(
            f"you have {count} chats; the limit is {limit}: delete some first", limit=limit
        )


async def check_message_quota(session: AsyncSession, *, chat_id: uuid.UUID, limit: int) -> None:
    """Refuse a turn whose two messages, already added to `session`, take the chat past `limit`
    (the caller's transaction then stores nothing)."""
    count = await session.scalar(
        select(func.count()).select_from(Message).where(Message.chat_id == chat_id)
    )
    if (count or 0) > limit:
        held = (count or 0) - 2
        raise QuotaExceeded(
            f"this chat holds {held} messages; the limit is {limit}: start a new chat",
            limit=limit,
        )
