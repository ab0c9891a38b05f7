"""Chunk embeddings in the database and the dense half of hybrid search.

SQLite: float32 BLOBs in `kb_chunks.embedding`, searched exhaustively in memory with numpy.
The in-memory copy is int8 with one float32 scale per row (a quarter of float32's memory:
37 MiB at 100k chunks), scanned exhaustively in blocks converted to float32 for BLAS; its
scores are within 0.002 of the float32 cosine. (float16 was tried: numpy has
no fast float16-to-float32 path, and the scan took 15x longer than int8.)
PostgreSQL: a pgvector `vector` column with an HNSW index (cosine) for the embedder's width.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from sqlalchemy import Connection, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from qna_agent.knowledge.embeddings.vectors import FloatMatrix

BLOCK_ROWS = 2048
LOAD_BATCH_ROWS = 2048


def _is_sqlite(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def _pg_literal(vector: npt.NDArray[np.float32]) -> str:
    return "[" + ",".join(f"{value:.7g}" for value in vector.tolist()) + "]"


def _parse_pg(literal: str) -> npt.NDArray[np.float32]:
    return np.array(literal.strip("[]").split(","), dtype=np.float32)


async def write_embeddings(
    session: AsyncSession, chunk_ids: list[int], vectors: FloatMatrix
) -> None:
    """Store the embedding of each chunk."""
    if not chunk_ids:
        return
    if _is_sqlite(session):
        statement = text("UPDATE kb_chunks SET embedding = :vector WHERE id = :id")
        rows = [
            {"id": i, "vector": v.astype(np.float32).tobytes()}
            for i, v in zip(chunk_ids, vectors, strict=True)
        ]
    else:
        statement = text(
            "UPDATE kb_chunks SET embedding = CAST(CAST(:vector AS text) AS vector) WHERE id = :id"
        )
        rows = [
            {"id": i, "vector": _pg_literal(v)} for i, v in zip(chunk_ids, vectors, strict=True)
        ]
    await session.execute(statement, rows)


async def embeddings_by_text(
    session: AsyncSession, path: str
) -> dict[tuple[str, str], npt.NDArray[np.float32]]:
    """Existing embeddings of a document's chunks, keyed by (heading, content), for reuse."""
    column = "embedding" if _is_sqlite(session) else "embedding::text"
    rows = await session.execute(
        text(
            f"SELECT c.heading, c.content, c.{column} AS embedding FROM kb_chunks AS c "  # noqa: S608
            "JOIN kb_documents AS d ON d.id = c.document_id "
            "WHERE d.path = :path AND c.embedding IS NOT NULL"
        ),
        {"path": path},
    )
    found: dict[tuple[str, str], npt.NDArray[np.float32]] = {}
    for row in rows:
        raw = row.embedding
        vector = np.frombuffer(raw, dtype=np.float32) if isinstance(raw, bytes) else _parse_pg(raw)
        found[(row.heading, row.content)] = vector
    return found


async def load_sqlite_vectors(
    session: AsyncSession, dim: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int8], npt.NDArray[np.float32]]:
    """Every stored embedding of the right width, quantised for the in-memory index.

    Rows are streamed in batches into preallocated arrays: holding 100k float32 BLOBs as
    Python objects at once would cost 150 MiB more than the index itself.
    """
    width = dim * 4
    total = int(
        await session.scalar(
            text("SELECT count(*) FROM kb_chunks WHERE length(embedding) = :width"),
            {"width": width},
        )
        or 0
    )
    ids = np.empty(total, dtype=np.int64)
    codes = np.empty((total, dim), dtype=np.int8)
    scales = np.empty(total, dtype=np.float32)
    filled = 0
    result = await session.stream(
        text("SELECT id, embedding FROM kb_chunks WHERE length(embedding) = :width ORDER BY id"),
        {"width": width},
    )
    async for batch in result.partitions(LOAD_BATCH_ROWS):
        for row in batch:
            if filled == total:  # rows added since the count: the next reload takes them
                break
            ids[filled] = row.id
            codes[filled], scales[filled] = quantise(np.frombuffer(row.embedding, np.float32))
            filled += 1
    return ids[:filled], codes[:filled], scales[:filled]


def quantise(vector: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.int8], np.float32]:
    """Symmetric int8 codes and the scale that restores them."""
    scale = np.float32(max(float(np.abs(vector).max()), 1e-12) / 127.0)
    return np.round(vector / scale).astype(np.int8), scale


class MemoryVectorIndex:
    """Exhaustive approximate cosine search over int8 vectors in memory (SQLite mode)."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._ids: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)
        self._codes: npt.NDArray[np.int8] = np.empty((0, dim), dtype=np.int8)
        self._scales: npt.NDArray[np.float32] = np.empty(0, dtype=np.float32)

    def __len__(self) -> int:
        return int(self._ids.shape[0])

    @property
    def nbytes(self) -> int:
        """Memory held by the vectors."""
        return int(self._codes.nbytes + self._ids.nbytes + self._scales.nbytes)

    def replace(
        self,
        ids: npt.NDArray[np.int64],
        codes: npt.NDArray[np.int8],
        scales: npt.NDArray[np.float32],
    ) -> None:
        """Swap in a new set of vectors (one assignment, so readers see old or new)."""
        self._ids, self._codes, self._scales = ids, codes, scales

    def search(self, query: FloatMatrix, k: int) -> list[tuple[int, float]]:
        """The `k` nearest chunk ids by (approximate) cosine similarity, best first."""
        ids, codes, scales = self._ids, self._codes, self._scales
        total = ids.shape[0]
        if total == 0 or k <= 0:
            return []
        vector = query.reshape(-1).astype(np.float32)
        scores = np.empty(total, dtype=np.float32)
        for start in range(0, total, BLOCK_ROWS):
            block = codes[start : start + BLOCK_ROWS].astype(np.float32)
            scores[start : start + block.shape[0]] = block @ vector
        scores *= scales
        k = min(k, total)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(ids[i]), float(scores[i])) for i in top]


def _pg_index_name(dim: int) -> str:
    return f"ix_kb_chunks_hnsw_{dim}"


async def ensure_pg_vector_index(session: AsyncSession, dim: int) -> None:
    """Create the HNSW index for this embedder width if it does not exist.

    Partial, on the rows of this width only: vectors of a previous embedder (until the sync
    re-embeds them) cannot be cast to this width, and the search's `vector_dims` filter, which
    the planner estimates to keep 0.5% of the rows, made it prefer an exact scan and sort over
    a full index (measured at 20k chunks). With the filter as the index's predicate, the plan
    is an index scan at every size.
    """
    # The index of earlier releases: full, so unusable by the plan and unbuildable next to
    # vectors of another width.
    await session.execute(text(f"DROP INDEX IF EXISTS ix_kb_chunks_embedding_hnsw_{dim}"))
    await session.execute(
        text(
            f"CREATE INDEX IF NOT EXISTS {_pg_index_name(dim)} ON kb_chunks "
            f"USING hnsw ((embedding::vector({dim})) vector_cosine_ops) "
            f"WHERE vector_dims(embedding) = {dim}"
        )
    )


def pg_dense_sql(dim: int) -> str:
    """The nearest-neighbour query for this width (`:query`, `:k`), which the index serves."""
    distance = f"embedding::vector({dim}) <=> CAST(CAST(:query AS text) AS vector({dim}))"
    return (
        f"SELECT id, 1 - ({distance}) AS score FROM kb_chunks "  # noqa: S608
        f"WHERE vector_dims(embedding) = {dim} ORDER BY {distance} LIMIT :k"
    )


def pg_dense_search(
    conn: Connection, query: FloatMatrix, k: int, dim: int
) -> list[tuple[int, float]]:
    """The `k` nearest chunks by cosine distance through the HNSW index (a unit of work)."""
    statement = text(pg_dense_sql(dim)).bindparams(bindparam("k"))
    rows = conn.execute(statement, {"query": _pg_literal(query.reshape(-1)), "k": k})
    return [(int(row.id), float(row.score)) for row in rows]
