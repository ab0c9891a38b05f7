"""Chat operations. Functions take the session explicitly and never know about HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from qna_agent.chat import repository
from qna_agent.chat.models import Chat, Message
from qna_agent.db.engine import Database
from qna_agent.errors import InvalidInput, NotFound

_UNSET: Any = object()
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a cursor-paginated list."""

    items: Sequence[T]
    has_more: bool

    @property
    def next_cursor(self) -> str | None:
        """The cursor of the next page, if there is one."""
        if not self.has_more or not self.items:
            return None
        return str(getattr(self.items[-1], "id"))  # noqa: B009  (generic item)


async def create_chat(
    session: AsyncSession, *, owner_id: str, title: str | None, metadata: dict[str, Any]
) -> Chat:
    """A new, empty chat."""
    chat = Chat(owner_id=owner_id, title=title, meta=metadata)
    session.add(chat)
    await session.flush()
    return chat


async def get_chat(session: AsyncSession, *, owner_id: str, chat_id: uuid.UUID) -> Chat:
    """One chat of the owner."""
    return await repository.get_chat(session, owner_id=owner_id, chat_id=chat_id)


async def list_chats(
    session: AsyncSession, *, owner_id: str, limit: int, after: uuid.UUID | None
) -> Page[Chat]:
    """The owner's chats, newest first; InvalidInput if `after` is not one of them."""
    if after is not None:
        try:
            await repository.get_chat(session, owner_id=owner_id, chat_id=after)
        except NotFound:
            raise _not_a_cursor(after, "your chats") from None
    rows = await repository.list_chats(session, owner_id=owner_id, limit=limit + 1, after=after)
    return Page(rows[:limit], len(rows) > limit)


async def update_chat(
    session: AsyncSession,
    *,
    owner_id: str,
    chat_id: uuid.UUID,
    title: str | None = _UNSET,
    metadata: dict[str, Any] = _UNSET,
) -> Chat:
    """Change the title and/or metadata of a chat (only the fields given)."""
    chat = await repository.get_chat(session, owner_id=owner_id, chat_id=chat_id)
    if title is not _UNSET:
        chat.title = title
    if metadata is not _UNSET:
        chat.meta = metadata
    await session.flush()
    await session.refresh(chat)
    return chat


async def delete_chat(session: AsyncSession, *, owner_id: str, chat_id: uuid.UUID) -> None:
    """Delete a chat with its messages."""
    chat = await repository.get_chat(session, owner_id=owner_id, chat_id=chat_id)
    await repository.delete_chat(session, chat=chat)


@dataclass(frozen=True, slots=True)
class ChatUsage:
    """Token and cost totals of a chat's answers."""

    prompt_tokens: int
    completion_tokens: int
    cost_micros: int
    assistant_messages: int


async def chat_usage(session: AsyncSession, *, owner_id: str, chat_id: uuid.UUID) -> ChatUsage:
    """Totals over the owner's chat (every attempt of every answer)."""
    await repository.get_chat(session, owner_id=owner_id, chat_id=chat_id)
    return ChatUsage(*await repository.chat_usage(session, chat_id=chat_id))


async def list_messages(
    database: Database,
    *,
    owner_id: str,
    chat_id: uuid.UUID,
    limit: int,
    after: uuid.UUID | None,
    order: Literal["asc", "desc"],
) -> Page[Message]:
    """A chat's messages, oldest first by default; InvalidInput if `after` is not one of them."""

    def read(conn: Connection) -> list[Message]:
        # One unit of work: the chat, the cursor and the page in one trip to the database.
        repository.chat_exists(conn, owner_id=owner_id, chat_id=chat_id)
        if after is not None and not repository.message_exists(
            conn, chat_id=chat_id, message_id=after
        ):
            raise _not_a_cursor(after, "this chat's messages")
        return repository.list_messages(
            conn, chat_id=chat_id, limit=limit + 1, after=after, order=order
        )

    rows = await database.read(read)
    return Page(rows[:limit], len(rows) > limit)


def _not_a_cursor(after: uuid.UUID, collection: str) -> InvalidInput:
    # An id of something else would silently start the page nowhere in particular.
    return InvalidInput(f"cursor {after} is not one of {collection}", field="after")


async def get_message(
    session: AsyncSession, *, owner_id: str, chat_id: uuid.UUID, message_id: uuid.UUID
) -> Message:
    """One message of the owner's chat."""
    await repository.get_chat(session, owner_id=owner_id, chat_id=chat_id)
    return await repository.get_message(session, chat_id=chat_id, message_id=message_id)
