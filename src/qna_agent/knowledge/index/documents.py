"""Reading documents and passages of the index (the API's listing and citations)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select

from qna_agent.db.engine import Database
from qna_agent.errors import NotFound
from qna_agent.knowledge.models import KbChunk, KbDocument


async def page(
    database: Database, *, limit: int, after: uuid.UUID | None
) -> tuple[Sequence[KbDocument], bool]:
    """Documents by id after the cursor `after`, and whether more follow."""
    query = select(KbDocument).order_by(KbDocument.id).limit(limit + 1)
    if after is not None:
        query = query.where(KbDocument.id > after)
    async with database.sessions() as session:
        rows = (await session.scalars(query)).all()
    return rows[:limit], len(rows) > limit


async def get(database: Database, document_id: uuid.UUID) -> KbDocument:
    """One document, or NotFound."""
    async with database.sessions() as session:
        document = await session.get(KbDocument, document_id)
    if document is None:
        raise NotFound(f"document {document_id} not found", resource="document")
    return document


async def get_chunk(database: Database, chunk_id: int) -> tuple[KbChunk, KbDocument]:
    """One passage and its document, or NotFound (chunk ids change on re-index)."""
    async with database.sessions() as session:
        chunk = await session.get(KbChunk, chunk_id)
        document = await session.get(KbDocument, chunk.document_id) if chunk else None
    if chunk is None or document is None:
        raise NotFound(
            f"passage {chunk_id} not found (it may have been re-indexed)", resource="chunk"
        )
    return chunk, document
