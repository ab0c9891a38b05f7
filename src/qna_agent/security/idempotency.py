"""`Idempotency-Key` records: a retried request finds the turn its first attempt began."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import timedelta
from typing import cast

from sqlalchemy import Connection, Table, delete, insert
from sqlalchemy.ext.asyncio import AsyncSession

from qna_agent.db.base import utcnow
from qna_agent.db.engine import Database
from qna_agent.errors import InvalidInput
from qna_agent.security.models import IdempotencyRecord

HEADER = "Idempotency-Key"
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")


def check_key(key: str) -> str:
    """1-200 visible ASCII characters (a UUID is the usual choice)."""
    if not _VALID_KEY.match(key):
        raise InvalidInput("Idempotency-Key must be 1-200 visible ASCII characters", field=HEADER)
    return key


def request_hash(*, chat_id: uuid.UUID, content: str) -> str:
    """What a key promises: the same question to the same chat."""
    canonical = json.dumps({"chat_id": str(chat_id), "content": content}, sort_keys=True)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


async def find(
    session: AsyncSession, *, principal_id: str, key: str, ttl: timedelta
) -> IdempotencyRecord | None:
    """The live record of a key, if any."""
    record = await session.get(IdempotencyRecord, (principal_id, key))
    if record is None or record.created_at < utcnow() - ttl:
        return None
    return record


def remember(
    conn: Connection,
    *,
    principal_id: str,
    key: str,
    digest: str,
    chat_id: uuid.UUID,
    message_id: uuid.UUID,
    ttl: timedelta,
) -> None:
    """Store a key with the turn it began, replacing an expired record (a unit of work). A live
    record with the same key makes the insert fail (IntegrityError): a concurrent request won."""
    table = cast(Table, IdempotencyRecord.__table__)
    conn.execute(
        delete(table).where(
            table.c.principal_id == principal_id,
            table.c.key == key,
            table.c.created_at < utcnow() - ttl,
        )
    )
    conn.execute(
        insert(table).values(
            principal_id=principal_id,
            key=key,
            request_hash=digest,
            chat_id=chat_id,
            message_id=message_id,
        )
    )


async def purge_expired(database: Database, *, ttl: timedelta) -> int:
    """Delete records past their time; returns how many."""
    async with database.write_sessions.begin() as session:
        result = await session.execute(
            delete(IdempotencyRecord).where(IdempotencyRecord.created_at < utcnow() - ttl)
        )
    return int(getattr(result, "rowcount", 0) or 0)
