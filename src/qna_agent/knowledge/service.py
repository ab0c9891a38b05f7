"""The knowledge base as the rest of the service sees it: sync, search and state."""

from __future__ import annotations

import time
from pathlib import Path

import structlog

from qna_agent.db.engine import Database
from qna_agent.knowledge.index import SyncReport, index_counts, sync_directory
from qna_agent.knowledge.search import SearchHit, lexical_search

log = structlog.get_logger(__name__)

MAX_TOP_K = 50


class KnowledgeBase:
    """Searchable passages from the knowledge directory."""

    def __init__(
        self, database: Database, *, directory: Path, chunk_chars: int, overlap_chars: int
    ) -> None:
        self._database = database
        self.directory = directory
        self._chunk_chars = chunk_chars
        self._overlap_chars = overlap_chars
        self.loaded = False
        self.last_sync: SyncReport | None = None

    async def sync(self) -> SyncReport:
        """Bring the index in step with the directory; marks the knowledge base loaded."""
        started = time.perf_counter()
        if not self.directory.is_dir():
            log.warning("knowledge_dir_missing", directory=str(self.directory))
        report = await sync_directory(
            self._database,
            self.directory,
            chunk_chars=self._chunk_chars,
            overlap_chars=self._overlap_chars,
        )
        self.last_sync = report
        self.loaded = True
        log.info(
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
            log.warning("knowledge_file_skipped", path=path, reason=reason)
        return report

    def mark_loaded(self) -> None:
        """Declare the existing index ready without a sync (sync disabled at start)."""
        self.loaded = True

    async def search(self, query: str, top_k: int) -> list[SearchHit]:
        """The best passages for `query`, best first."""
        top_k = max(1, min(top_k, MAX_TOP_K))
        async with self._database.sessions() as session:
            return await lexical_search(session, query, top_k)

    async def counts(self) -> tuple[int, int]:
        """Documents and chunks indexed."""
        return await index_counts(self._database)
