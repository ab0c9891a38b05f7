"""Keep the index in step with the knowledge directory and uploads, by content hash.

A document is re-chunked and re-embedded only when its bytes, the chunking settings or the
embedder change; even then, chunks whose text is unchanged keep their stored embeddings.

One bad file never stops a sync: a file that cannot be parsed, embedded or stored is skipped
with the reason, and the rest is indexed. Only a database that cannot be reached fails the
whole sync (the next one retries).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, func, select
from sqlalchemy.orm import undefer

from qna_agent.db.engine import Database
from qna_agent.knowledge.index import change_counter
from qna_agent.knowledge.index.store import (
    UPLOAD_CLASH,
    IndexSettings,
    Skip,
    parse_in_thread,
    store_document,
    store_or_skip,
)
from qna_agent.knowledge.ingest.directory import scan
from qna_agent.knowledge.ingest.loader import UnreadableDocument, file_hash, media_type_of
from qna_agent.knowledge.models import SOURCE_DIRECTORY, SOURCE_UPLOAD, KbChunk, KbDocument

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
            select(
                KbDocument.path, KbDocument.source, KbDocument.content_hash, KbDocument.index_params
            )
        )
        known, uploaded = {}, set()
        for row in rows:
            if row.source == SOURCE_DIRECTORY:
                known[row.path] = (row.content_hash, row.index_params)
            else:
                uploaded.add(row.path)
    for source in sources:
        if progress is not None:
            progress(source.path)
        if source.path in uploaded:
            report.skipped.append((source.path, UPLOAD_CLASH))
            continue
        try:
            data = await asyncio.to_thread(source.absolute.read_bytes)
        except OSError as exc:
            report.skipped.append((source.path, f"cannot read: {exc.strerror}"))
            continue
        previous = known.pop(source.path, None)
        if previous == (file_hash(data), settings.params):
            report.unchanged.append(source.path)
            continue
        skip = await _index_file(database, source.path, data, settings)
        if skip is None:
            (report.changed if previous is not None else report.added).append(source.path)
            continue
        report.skipped.append((source.path, skip.reason))
        if previous is not None and not skip.transient:
            known[source.path] = previous  # a broken new version must not leave stale text
    if known:
        async with database.write_sessions.begin() as session:
            await change_counter.bump(session)
            await session.execute(
                delete(KbDocument).where(
                    KbDocument.path.in_(list(known)), KbDocument.source == SOURCE_DIRECTORY
                )
            )
        report.removed.extend(sorted(known))
    return report


async def _index_file(
    database: Database, path: str, data: bytes, settings: IndexSettings
) -> Skip | None:
    """Index one directory file, or say why it was skipped."""
    try:
        parsed = await parse_in_thread(path, data, settings)
    except UnreadableDocument as exc:
        return Skip(str(exc))
    media_type = media_type_of(path) or "text/plain"
    return await store_or_skip(
        store_document(database, parsed, settings, source=SOURCE_DIRECTORY, media_type=media_type)
    )


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
            parsed = await parse_in_thread(document.path, document.data, settings)
        except UnreadableDocument:
            continue
        skip = await store_or_skip(
            store_document(
                database,
                parsed,
                settings,
                source=SOURCE_UPLOAD,
                media_type=document.media_type,
                data=document.data,
            )
        )
        if skip is None:
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
    "Progress",
    "SyncReport",
    "index_counts",
    "reindex_uploads",
    "sync_directory",
]
