"""Keep the index in step with the knowledge directory and uploads, by content hash.

A document is re-chunked and re-embedded only when its bytes, the chunking settings or the
embedder change; even then, chunks whose text is unchanged keep their stored embeddings.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.orm import undefer

from qna_agent.db.engine import Database
from qna_agent.knowledge.embedding_cache import EmbeddingCache
from qna_agent.knowledge.loader import (
    ParsedDocument,
    UnreadableDocument,
    file_hash,
    media_type_of,
    parse_document,
    scan,
)
from qna_agent.knowledge.models import SOURCE_DIRECTORY, SOURCE_UPLOAD, KbChunk, KbDocument
from qna_agent.knowledge.vectors_store import embeddings_by_text, write_embeddings

Progress = Callable[[str], None]


@dataclass(slots=True)
class SyncReport:
    """What a sync did, file by file."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def touched(self) -> bool:
        """Whether the index changed."""
        return bool(self.added or self.changed or self.removed)


@dataclass(frozen=True, slots=True)
class IndexSettings:
    """How documents are chunked and embedded."""

    chunk_chars: int
    overlap_chars: int
    embeddings: EmbeddingCache | None

    @property
    def params(self) -> str:
        """A fingerprint stored with each document; a change re-indexes it."""
        embedder = self.embeddings.name if self.embeddings else "none"
        return f"{embedder}|{self.chunk_chars}|{self.overlap_chars}"


async def store_document(
    database: Database,
    parsed: ParsedDocument,
    settings: IndexSettings,
    *,
    source: str,
    media_type: str,
    data: bytes | None = None,
) -> KbDocument:
    """Replace a document and its chunks (with embeddings) in one transaction."""
    vectors = None
    if settings.embeddings is not None:
        async with database.sessions() as session:
            reusable = await embeddings_by_text(session, parsed.path)
        vectors = await settings.embeddings.embed_chunks(
            [(chunk.heading, chunk.content) for chunk in parsed.chunks], reusable
        )
    async with database.write_sessions.begin() as session:
        await session.execute(delete(KbDocument).where(KbDocument.path == parsed.path))
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
        if vectors is not None:
            await write_embeddings(session, [chunk.id for chunk in chunks], vectors)
    return document


async def sync_directory(
    database: Database,
    directory: Path,
    settings: IndexSettings,
    progress: Progress | None = None,
) -> SyncReport:
    """Index new and changed files of `directory` and drop documents whose file is gone."""
    report = SyncReport()
    sources, report.skipped = await asyncio.to_thread(scan, directory)
    async with database.sessions() as session:
        rows = await session.execute(
            select(KbDocument.path, KbDocument.content_hash, KbDocument.index_params).where(
                KbDocument.source == SOURCE_DIRECTORY
            )
        )
        known = {row.path: (row.content_hash, row.index_params) for row in rows}
    for source in sources:
        if progress is not None:
            progress(source.path)
        try:
            data = await asyncio.to_thread(source.absolute.read_bytes)
        except OSError as exc:
            report.skipped.append((source.path, f"cannot read: {exc.strerror}"))
            continue
        previous = known.pop(source.path, None)
        if previous == (file_hash(data), settings.params):
            report.unchanged.append(source.path)
            continue
        try:
            parsed = await asyncio.to_thread(
                parse_document,
                source.path,
                data,
                chunk_chars=settings.chunk_chars,
                overlap_chars=settings.overlap_chars,
            )
        except UnreadableDocument as exc:
            report.skipped.append((source.path, str(exc)))
            if previous is not None:  # an unreadable new version must not leave stale text
                known[source.path] = previous
            continue
        media_type = media_type_of(source.path) or "text/plain"
        await store_document(
            database, parsed, settings, source=SOURCE_DIRECTORY, media_type=media_type
        )
        (report.changed if previous is not None else report.added).append(source.path)
    if known:
        async with database.write_sessions.begin() as session:
            await session.execute(delete(KbDocument).where(KbDocument.path.in_(list(known))))
        report.removed.extend(sorted(known))
    return report


async def reindex_uploads(database: Database, settings: IndexSettings) -> list[str]:
    """Re-index uploaded documents made with other settings (a new embedder, say)."""
    async with database.sessions() as session:
        stale = (
            await session.scalars(
                select(KbDocument)
                .options(undefer(KbDocument.data))
                .where(
                    KbDocument.source == SOURCE_UPLOAD,
                    KbDocument.index_params != settings.params,
                )
            )
        ).all()
    redone = []
    for document in stale:
        if document.data is None:
            continue
        try:
            parsed = await asyncio.to_thread(
                parse_document,
                document.path,
                document.data,
                chunk_chars=settings.chunk_chars,
                overlap_chars=settings.overlap_chars,
            )
        except UnreadableDocument:
            continue
        await store_document(
            database,
            parsed,
            settings,
            source=SOURCE_UPLOAD,
            media_type=document.media_type,
            data=document.data,
        )
        redone.append(document.path)
    return redone


async def index_counts(database: Database) -> tuple[int, int]:
    """The number of documents and chunks in the index."""
    async with database.sessions() as session:
        documents = await session.scalar(select(func.count()).select_from(KbDocument))
        chunks = await session.scalar(select(func.count()).select_from(KbChunk))
    return int(documents or 0), int(chunks or 0)


__all__ = [
    "IndexSettings",
    "SyncReport",
    "index_counts",
    "reindex_uploads",
    "store_document",
    "sync_directory",
]
