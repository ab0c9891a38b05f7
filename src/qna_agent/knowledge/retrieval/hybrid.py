"""Hybrid search: lexical and dense candidates fused by reciprocal rank, loaded as hits.

The query embedding (a worker thread) and the lexical query (the database) run at the same
time. While the embeddings endpoint fails, a search rests on lexical results alone (vector
scores null) instead of failing the agent's turn; `dense_failures` counts such searches so
that their results are not cached.
"""

from __future__ import annotations

import asyncio
import functools

import structlog
from sqlalchemy import Connection

from qna_agent.db.engine import Database
from qna_agent.knowledge.embeddings.cache import EmbeddingCache
from qna_agent.knowledge.embeddings.embedder import EmbeddingServiceError
from qna_agent.knowledge.retrieval.dense import DenseSearch
from qna_agent.knowledge.retrieval.fusion import reciprocal_rank_fusion
from qna_agent.knowledge.retrieval.hits import SearchHit, load_hits
from qna_agent.knowledge.retrieval.lexical import lexical_candidates

log = structlog.get_logger(__name__)


class HybridSearch:
    """Search over the stored index; `reload` after every index change."""

    def __init__(
        self,
        database: Database,
        embeddings: EmbeddingCache | None,
        *,
        candidates: int,
        rrf_k: int,
        min_vector_score: float,
    ) -> None:
        self._database = database
        self._dense = (
            DenseSearch(database, embeddings, min_score=min_vector_score) if embeddings else None
        )
        self._candidates = candidates
        self._rrf_k = rrf_k
        self._df_cache: dict[str, int] = {}  # term -> matching chunks, for this index version
        self._chunks: int | None = None  # chunks in the index, for this version
        self.dense_failures = 0

    async def open(self) -> None:
        """Prepare vector search over what is already indexed."""
        if self._dense is not None:
            await self._dense.open()

    async def reload(self, chunks: int) -> None:
        """Follow an index change: vectors in memory reloaded, term statistics forgotten."""
        if self._dense is not None:
            await self._dense.reload()
        self._chunks, self._df_cache = chunks, {}

    async def search(self, query: str, top_k: int) -> list[SearchHit]:
        """The `top_k` best passages for `query`, best first."""
        limit = max(self._candidates, top_k)
        dense, lexical = await asyncio.gather(
            self._dense_or_nothing(query, limit), self._lexical(query, limit)
        )
        fused = reciprocal_rank_fusion(lexical, dense, k=self._rrf_k)[:top_k]
        return await self._database.read(functools.partial(load_hits, query=query, ranked=fused))

    async def search_modes(self, query: str, top_k: int) -> dict[str, list[str]]:
        """Document paths ranked by lexical-only, dense-only and hybrid search (for eval)."""
        limit = max(self._candidates, top_k)
        lexical = await self._lexical(query, limit)
        dense = await self._dense_candidates(query, limit)
        modes = {
            "lexical": reciprocal_rank_fusion(lexical, [], k=self._rrf_k)[:top_k],
            "dense": reciprocal_rank_fusion([], dense, k=self._rrf_k)[:top_k],
            "hybrid": reciprocal_rank_fusion(lexical, dense, k=self._rrf_k)[:top_k],
        }

        def paths(conn: Connection) -> dict[str, list[str]]:
            return {
                mode: [hit.path for hit in load_hits(conn, query, ranked)]
                for mode, ranked in modes.items()
            }

        return await self._database.read(paths)

    async def _dense_candidates(self, query: str, limit: int) -> list[tuple[int, float]]:
        return [] if self._dense is None else await self._dense.candidates(query, limit)

    async def _dense_or_nothing(self, query: str, limit: int) -> list[tuple[int, float]]:
        try:
            return await self._dense_candidates(query, limit)
        except EmbeddingServiceError as exc:
            self.dense_failures += 1
            log.warning("knowledge_dense_search_unavailable", error=exc.detail)
            return []

    async def _lexical(self, query: str, limit: int) -> list[tuple[int, float]]:
        return await self._database.read(
            functools.partial(
                lexical_candidates,
                query=query,
                limit=limit,
                df_cache=self._df_cache,
                total_chunks=self._chunks,
            )
        )
