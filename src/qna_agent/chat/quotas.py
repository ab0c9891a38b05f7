"""Lasting limits: chats per principal, messages per chat.

A quota is a count followed by an insert, so two requests that count at once could both pass.
Each check therefore first takes a lock on what it counts, held until the transaction ends:
on PostgreSQL a transaction-scoped advisory lock; SQLite's write transactions already run one
at a time (`BEGIN IMMEDIATE`).
"""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy import Connection, func, select, text

from qna_agent.chat.models import Chat, Message
from qna_agent.errors import QuotaExceeded

# The first key of `pg_advisory_xact_lock(int, int)`: what is locked; the second names which.
_CHATS_OF_OWNER = 0x51A0
_MESSAGES_OF_CHAT = 0x51A1


def lock_for_count(conn: Connection, namespace: int, name: str) -> None:
    """Serialise, until this transaction ends, the transactions that count `name`."""
    if conn.dialect.name != "postgresql":
        return
    digest = hashlib.blake2b(name.encode(), digest_size=4).digest()
    # Two names sharing a hash only wait for each other: never a wrong count.
    conn.execute(
        text("SELECT pg_advisory_xact_lock(:namespace, :key)"),
        {"namespace": namespace, "key": int.from_bytes(digest, "big", signed=True)},
    )


def check_chat_quota(conn: Connection, *, owner_id: str, limit: int) -> None:
    """Refuse a new chat when the owner already has `limit`; the chat must be inserted in the
    same transaction (the lock taken here holds off the owner's other creations until then)."""
    lock_for_count(conn, _CHATS_OF_OWNER, owner_id)
    count = conn.scalar(select(func.count()).select_from(Chat).where(Chat.owner_id == owner_id))
    if (count or 0) >= limit:
        raise QuotaExceeded(
            f"you have {count} chats; the limit is {limit}: delete some first", limit=limit
        )


def check_message_quota(conn: Connection, *, chat_id: uuid.UUID, limit: int) -> None:
    """Refuse a turn whose two messages, already inserted in this transaction, take the chat
    past `limit` (the caller's transaction then stores nothing). Units of work: see
    db/sqlite_workers.py."""
    # After the lock, the count (a new snapshot under READ COMMITTED) sees every turn that
    # was committed while this one waited.
    lock_for_count(conn, _MESSAGES_OF_CHAT, str(chat_id))
    count = conn.scalar(select(func.count()).select_from(Message).where(Message.chat_id == chat_id))
    if (count or 0) > limit:
        held = (count or 0) - 2
        raise QuotaExceeded(
            f"this chat holds {held} messages; the limit is {limit}: start a new chat",
            limit=limit,
        )
