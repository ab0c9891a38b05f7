"""Keep the index in step with the knowledge directory, by content hash."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, func, select

from qna_agent.db.engine import Database
from qna_agent.knowledge.loader import (
    ParsedDocument,
    UnreadableDocument,
    file_hash,
    parse_document,
    scan,
)
from qna_agent.knowledge.models import SOURCE_DIRECTORY, KbChunk, KbDocument


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


async def _store(database: Database, parsed: ParsedDocument) -> None:
    """Replace a document and its chunks in one transaction."""
    async with database.write_sessions.begin() as session:
        await session.execute(delete(KbDocument).where(KbDocument.path == parsed.path))
        document = KbDocument(
            path=parsed.path,
            title=parsed.title,
            source=SOURCE_DIRECTORY,
            content_hash=parsed.content_hash,
            size_bytes=parsed.size_bytes,
            chunk_count=len(parsed.chunks),
        )
        session.add(document)
        await session.flush()
        session.add_all(
            KbChunk(
                document_id=document.id,
                ordinal=ordinal,
                heading=chunk.heading,
                content=chunk.content,
                start_line=chunk.start_line,
                end_line=chunk.end_line,
            )
            for ordinal, chunk in enumerate(parsed.chunks)
        )


async def sync_directory(
    database: Database, directory: Path, *, chunk_chars: int, overlap_chars: int
) -> SyncReport:
    """Index new and changed files of `directory` and drop documents whose file is gone."""
    report = SyncReport()
    sources, report.skipped = await asyncio.to_thread(scan, directory)
    async with database.sessions() as session:
        rows = await session.execute(
            select(KbDocument.path, KbDocument.content_hash).where(
                KbDocument.source == SOURCE_DIRECTORY
            )
        )
        known: dict[str, str] = {row.path: row.content_hash for row in rows}
    for source in sources:
        try:
            data = await asyncio.to_thread(source.absolute.read_bytes)
        except OSError as exc:
            report.skipped.append((source.path, f"cannot read: {exc.strerror}"))
            continue
        previous = known.pop(source.path, None)
        if previous == file_hash(data):
            report.unchanged.append(source.path)
            continue
        try:
            parsed = await asyncio.to_thread(
                parse_document,
                source.path,
                data,
                chunk_chars=chunk_chars,
                overlap_chars=overlap_chars,
            )
        except UnreadableDocument as exc:
            report.skipped.append((source.path, str(exc)))
            if previous is not None:  # an unreadable new version must not leave stale text
                known[source.path] = previous
            continue
        await _store(database, parsed)
        (report.changed if previous is not None else report.added).append(source.path)
    if known:
        async with database.write_sessions.begin() as session:
            await session.execute(delete(KbDocument).where(KbDocument.path.in_(list(known))))
        report.removed.extend(sorted(known))
    return report


async def index_counts(database: Database) -> tuple[int, int]:
    """The number of documents and chunks in the index."""
    async with database.sessions() as session:
        documents = await session.scalar(select(func.count()).select_from(KbDocument))
        chunks = await session.scalar(select(func.count()).select_from(KbChunk))
    return int(documents or 0), int(chunks or 0)
