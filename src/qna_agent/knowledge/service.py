"""The knowledge base as the rest of the service sees it: sync, search, uploads and state.

Search is hybrid (retrieval/hybrid.py): BM25 (SQLite FTS5 / PostgreSQL full text) and dense
vectors (in-memory numpy on SQLite, pgvector HNSW on PostgreSQL), fused by reciprocal rank
fusion. Results are cached by query and knowledge-base version (retrieval/query_cache.py), and
the version changes with every index change, so a re-index never serves stale results.
Changes made by other processes (workers, replicas, the `kb sync` Job) are seen through the
generation counter in the database (index/change_counter.py), checked at most once per
`generation_check_seconds` and on every sync.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import structlog
from sqlalchemy.exc import SQLAlchemyError

from qna_agent.db.engine import Database
from qna_agent.knowledge.embeddings.cache import EmbeddingCache
from qna_agent.knowledge.embeddings.onnx_embedder import release_freed_heap
from qna_agent.knowledge.index import change_counter, documents
from qna_agent.knowledge.index.sync import (
    IndexSettings,
    Progress,
    SyncReport,
    index_counts,
    reindex_uploads,
    sync_directory,
)
from qna_agent.knowledge.index.uploads import (
    UploadOutcome,
    delete_upload,
    store_upload,
    upload_path,
)
from qna_agent.knowledge.ingest.loader import DocumentLimits
from qna_agent.knowledge.models import KbChunk, KbDocument
from qna_agent.knowledge.retrieval.hits import SearchHit
from qna_agent.knowledge.retrieval.hybrid import HybridSearch
from qna_agent.knowledge.retrieval.query_cache import QueryCache
from qna_agent.observability import metrics, tracing

log = structlog.get_logger(__name__)

MAX_TOP_K = 50


class KnowledgeBase:
    """Searchable passages from the knowledge directory and uploads."""

    def __init__(
        self,
        database: Database,
        *,
        directory: Path,
        chunk_chars: int,
        overlap_chars: int,
        embeddings: EmbeddingCache | None = None,
        candidates: int = 40,
        rrf_k: int = 60,
        min_vector_score: float = 0.2,
        cache_size: int = 1024,
        limits: DocumentLimits | None = None,
        generation_check_seconds: float = 1.0,
    ) -> None:
        self._database = database
        self.directory = directory
        self.embeddings = embeddings
        limits = limits or DocumentLimits()
        self.index_settings = IndexSettings(chunk_chars, overlap_chars, embeddings, limits)
        self._hybrid = HybridSearch(
            database,
            embeddings,
            candidates=candidates,
            rrf_k=rrf_k,
            min_vector_score=min_vector_score,
        )
        self._cache = QueryCache(cache_size)
        self.max_upload_bytes = limits.max_bytes
        self.version = 0
        self.loaded = False
        self.last_sync: SyncReport | None = None
        self._generation = -1  # the database generation this process's caches were built for
        self._generation_check_seconds = generation_check_seconds
        self._next_generation_check = 0.0
        self._reload_lock = asyncio.Lock()

    async def _changed(self, *, force: bool = True) -> None:
        """The index changed: reload in-memory vectors, then a new version (drops cached
        results). Without `force`, only when the database's generation moved."""
        async with self._reload_lock:
            async with self._database.sessions() as session:
                # Read first: a change committed while we reload moves it again, and the next
                # check reloads once more; reading it last could miss that change.
                seen = await change_counter.current(session)
            if not force and seen == self._generation:
                return
            _, chunks = await self.counts()
            await self._hybrid.reload(chunks)
            # Only now a new version: a search during the reload must not cache old results
            # under it.
            self._generation = seen
            self.version += 1
            self._cache.clear()
        # Indexing and reloading free a lot of small objects; hand the pages back (glibc).
        release_freed_heap()

    async def _follow_other_writers(self) -> None:
        """Reload when another process changed the index; at most once per check interval."""
        now = time.monotonic()
        if now < self._next_generation_check:
            return
        self._next_generation_check = now + self._generation_check_seconds
        try:
            await self._changed(force=False)
        except (SQLAlchemyError, OSError) as exc:  # serve what we have; the next check retries
            log.warning("knowledge_generation_check_failed", error=type(exc).__name__)

    async def open(self) -> None:
        """Prepare vector search over what is already indexed (before or without a sync)."""
        await self._hybrid.open()
        await self._changed()

    async def sync(self, progress: Progress | None = None) -> SyncReport:
        """Bring the index in step with the directory; marks the knowledge base loaded."""
        started = time.perf_counter()
        if not self.directory.is_dir():
            log.warning("knowledge_dir_missing", directory=str(self.directory))
        report = await sync_directory(self._database, self.directory, self.index_settings, progress)
        report.changed.extend(await reindex_uploads(self._database, self.index_settings))
        # Also the periodic tick's check for changes made by other processes.
        await self._changed(force=report.touched or not self.loaded)
        previous = set(self.last_sync.skipped) if self.last_sync else set()
        self.last_sync = report
        self.loaded = True
        # Every minute while serving: only a sync that did something is news.
        level = logging.INFO if report.touched or set(report.skipped) != previous else logging.DEBUG
        log.log(
            level,
            "knowledge_base_synced",
            directory=str(self.directory),
            added=len(report.added),
            changed=len(report.changed),
            removed=len(report.removed),
            unchanged=len(report.unchanged),
            skipped=len(report.skipped),
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        for path, reason in report.skipped:
            if (path, reason) not in previous:  # once, not on every re-scan
                log.warning("knowledge_file_skipped", path=path, reason=reason)
        return report

    def mark_loaded(self) -> None:
        """Declare the existing index ready without a sync (sync disabled at start)."""
        self.loaded = True

    async def search(self, query: str, top_k: int) -> list[SearchHit]:
        """The best passages for `query`, best first (hybrid when an embedder is set)."""
        top_k = max(1, min(top_k, MAX_TOP_K))
        await self._follow_other_writers()
        started = time.perf_counter()
        try:
            with tracing.span("knowledge_base.search", {"qna.kb.top_k": top_k}) as span:
                key = self._cache.key(query, top_k, self.version)
                cached = self._cache.get(key)
                if cached is not None:
                    span.set_attribute("qna.kb.cached", True)
                    return cached
                failures = self._hybrid.dense_failures
                hits = await self._hybrid.search(query, top_k)
                if failures == self._hybrid.dense_failures:  # a lexical-only fallback is not cached
                    self._cache.put(key, hits)
                span.set_attribute("qna.kb.hits", len(hits))
        finally:
            metrics.KB_SEARCHES.inc()
            metrics.KB_SEARCH_DURATION.observe(time.perf_counter() - started)
        return hits

    async def search_modes(self, query: str, top_k: int) -> dict[str, list[str]]:
        """Document paths ranked by lexical-only, dense-only and hybrid search (for eval)."""
        return await self._hybrid.search_modes(query, top_k)

    async def counts(self) -> tuple[int, int]:
        """Documents and chunks indexed."""
        return await index_counts(self._database)

    async def list_documents(
        self, *, limit: int, after: uuid.UUID | None
    ) -> tuple[Sequence[KbDocument], bool]:
        """Documents by id, and whether more follow."""
        return await documents.page(self._database, limit=limit, after=after)

    async def get_document(self, document_id: uuid.UUID) -> KbDocument:
        """One document, or NotFound."""
        return await documents.get(self._database, document_id)

    async def get_chunk(self, chunk_id: int) -> tuple[KbChunk, KbDocument]:
        """One passage and its document, or NotFound (chunk ids change on re-index)."""
        return await documents.get_chunk(self._database, chunk_id)

    async def upload(self, filename: str, data: bytes) -> tuple[KbDocument, bool]:
        """Index an uploaded file, kept in the database; returns it and whether it is new."""
        document, outcome = await self.ingest(filename, data)
        return document, outcome is UploadOutcome.ADDED

    async def ingest(
        self, filename: str, data: bytes, *, keep_folders: bool = False
    ) -> tuple[KbDocument, UploadOutcome]:
        """Store and index a file as an upload (`uploads/<name>`), and say what changed.

        The same bytes again change nothing (same document id). Raises InvalidInput (bad name,
        type or content), PayloadTooLarge (over a DocumentLimits), Conflict (the path is a
        directory document's) or UpstreamError (the embeddings endpoint failed).
        """
        path = upload_path(filename, keep_folders=keep_folders)
        document, outcome = await store_upload(self._database, self.index_settings, path, data)
        if outcome is not UploadOutcome.UNCHANGED:
            await self._changed()
        log.info(
            "knowledge_document_uploaded",
            path=path,
            chunks=document.chunk_count,
            outcome=str(outcome),
        )
        return document, outcome

    async def delete(self, document_id: uuid.UUID) -> None:
        """Remove an uploaded document (directory documents follow their files: Conflict)."""
        await delete_upload(self._database, document_id)
        await self._changed()
