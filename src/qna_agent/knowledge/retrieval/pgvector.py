"""The dense half of hybrid search on PostgreSQL: pgvector with an HNSW index (cosine) for the
embedder's width."""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from qna_agent.knowledge.embeddings.vectors import FloatMatrix
from qna_agent.knowledge.index.vectors_store import pg_literal


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
        f"SELECT id, 1 - ({distance}) AS score FROM kb_chunks "
        f"WHERE vector_dims(embedding) = {dim} ORDER BY {distance} LIMIT :k"
    )


def pg_dense_search(
    conn: Connection, query: FloatMatrix, k: int, dim: int
) -> list[tuple[int, float]]:
    """The `k` nearest chunks by cosine distance through the HNSW index (a unit of work)."""
    statement = text(pg_dense_sql(dim)).bindparams(bindparam("k"))
    rows = conn.execute(statement, {"query": pg_literal(query.reshape(-1)), "k": k})
    return [(int(row.id), float(row.score)) for row in rows]
