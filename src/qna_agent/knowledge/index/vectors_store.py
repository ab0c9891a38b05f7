"""Chunk embeddings in the database: written with their chunks, read back for reuse.

SQLite keeps float32 BLOBs in `kb_chunks.embedding`, PostgreSQL a pgvector `vector` column;
how each is searched is retrieval's business (retrieval/memory_vectors.py, retrieval/pgvector.py).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from qna_agent.knowledge.embeddings.vectors import FloatMatrix


def _is_sqlite(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def pg_literal(vector: npt.NDArray[np.float32]) -> str:
    """A vector as pgvector's text form, `[0.1,-0.2,...]`."""
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
        rows = [{"id": i, "vector": pg_literal(v)} for i, v in zip(chunk_ids, vectors, strict=True)]
    await session.execute(statement, rows)


async def embeddings_by_text(
    session: AsyncSession, path: str
) -> dict[tuple[str, str], npt.NDArray[np.float32]]:
    """Existing embeddings of a document's chunks, keyed by (heading, content), for reuse."""
    column = "embedding" if _is_sqlite(session) else "embedding::text"
    rows = await session.execute(
        text(
            f"SELECT c.heading, c.content, c.{column} AS embedding FROM kb_chunks AS c "
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
