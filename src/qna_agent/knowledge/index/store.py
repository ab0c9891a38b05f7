"""Write documents into the index: chunks and embeddings in one transaction per document.

Every write bumps the generation first (change_counter.py), so writers of all processes take
turns and every other process learns that the index changed. A directory document and an
upload never share a path: the writer refuses the clash instead of replacing the other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from qna_agent.db.engine import Database
from qna_agent.errors import Conflict, UpstreamError
from qna_agent.knowledge.embeddings.cache import EmbeddingCache
from qna_agent.knowledge.index import change_counter
from qna_agent.knowledge.index.vectors_store import embeddings_by_text, write_embeddings
from qna_agent.knowledge.ingest.loader import DocumentLimits, ParsedDocument, parse_document
from qna_agent.knowledge.models import SOURCE_UPLOAD, KbChunk, KbDocument

UPLOAD_CLASH = "an uploaded document has the same path; rename the file or delete the upload"


@dataclass(frozen=True, slots=True)
class IndexSettings:
    """How documents are chunked and embedded, and how much one document may be."""

    chunk_chars: int
    overlap_chars: int
    embeddings: EmbeddingCache | None
    limits: DocumentLimits = DocumentLimits()

    @property
    def params(self) -> str:
        """A fingerprint stored with each document; a change re-indexes it."""
        embedder = self.embeddings.name if self.embeddings else "none"
        return f"{embedder}|{self.chunk_chars}|{self.overlap_chars}"


async def parse_in_thread(path: str, data: bytes, settings: IndexSettings) -> ParsedDocument:
    """Parse and chunk a document in a worker thread (a PDF costs about 2 ms a page)."""
    return await asyncio.to_thread(
        parse_document,
        path,
        data,
        chunk_chars=settings.chunk_chars,
        overlap_chars=settings.overlap_chars,
        limits=settings.limits,
    )


async def store_document(
    database: Database,
    parsed: ParsedDocument,
    settings: IndexSettings,
    *,
    source: str,
    media_type: str,
    data: bytes | None = None,
) -> KbDocument:
    """Replace a document of `source` and its chunks (with embeddings) in one transaction.

    Raises Conflict when a document of the other source holds the path: a directory file
    must never replace (and, when removed, delete) an upload, nor an upload a file.
    """
    vectors = None
    if settings.embeddings is not None:
        async with database.sessions() as session:
            reusable = await embeddings_by_text(session, parsed.path)
        vectors = await settings.embeddings.embed_chunks(
            [(chunk.heading, chunk.content) for chunk in parsed.chunks], reusable
        )
    async with database.write_sessions.begin() as session:
        await change_counter.bump(session)  # first: writers of every process queue here
        holder = await session.scalar(
            select(KbDocument.source).where(KbDocument.path == parsed.path)
        )
        if holder is not None and holder != source:
            raise Conflict(_clash(parsed.path, holder), path=parsed.path)
        await session.execute(
            delete(KbDocument).where(KbDocument.path == parsed.path, KbDocument.source == source)
        )
        document, chunk_ids = await _insert(session, parsed, settings, source, media_type, data)
        if vectors is not None:
            await write_embeddings(session, chunk_ids, vectors)
    return document


def _clash(path: str, holder: str) -> str:
    if holder == SOURCE_UPLOAD:
        return UPLOAD_CLASH
    return f"{path} is a document of KNOWLEDGE_DIR; upload the file under another name"


async def _insert(
    session: AsyncSession,
    parsed: ParsedDocument,
    settings: IndexSettings,
    source: str,
    media_type: str,
    data: bytes | None,
) -> tuple[KbDocument, list[int]]:
    document = KbDocument(
        path=parsed.path,
        title=parsed.title,
        source=source,
        content_hash=parsed.content_hash,
        size_bytes=parsed.size_bytes,
        chunk_count=len(parsed.chunks),
        index_params=settings.params,
        media_type=media_type,
        data=data,
    )
    session.add(document)
    await session.flush()
    chunks = [
        KbChunk(
            document_id=document.id,
            ordinal=ordinal,
            heading=chunk.heading,
            content=chunk.content,
            start_line=chunk.start_line,
            end_line=chunk.end_line,
        )
        for ordinal, chunk in enumerate(parsed.chunks)
    ]
    session.add_all(chunks)
    await session.flush()
    return document, [chunk.id for chunk in chunks]


@dataclass(frozen=True, slots=True)
class Skip:
    """Why a document was not stored; `transient` when the file itself may be fine."""

    reason: str
    transient: bool = False


async def store_or_skip(store: Awaitable[KbDocument]) -> Skip | None:
    """Run `store` (a `store_document(...)` call), or say why the document was not stored.

    A database that cannot be reached is not a property of the file: that error propagates.
    """
    try:
        await store
    except UpstreamError as exc:  # the embeddings endpoint: the next sync retries
        return Skip(f"not embedded: {exc.detail}", transient=True)
    except Conflict as exc:
        return Skip(exc.detail)
    except DBAPIError as exc:
        if isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated:
            raise
        return Skip(f"cannot be stored ({_database_reason(exc)})")
    return None


def _database_reason(exc: DBAPIError) -> str:
    # The driver's own exception (asyncpg's is the adapter's __cause__) names the problem.
    error: BaseException = exc.orig if exc.orig is not None else exc
    while error.__cause__ is not None:
        error = error.__cause__
    message = str(error).splitlines()[0][:200] if str(error) else ""
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
