"""The passages a search found, loaded for citation, each with a snippet around the query."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, text

from qna_agent.knowledge.retrieval.fusion import Fused
from qna_agent.knowledge.retrieval.query_terms import query_terms

SNIPPET_CHARS = 280


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One passage found by a search, with what a citation needs.

    `score` is the fused (reciprocal rank fusion) score; `lexical_score` (BM25, higher is
    better) and `vector_score` (cosine similarity) are each None when that retriever did not
    return the passage among its candidates.
    """

    chunk_id: int
    document_id: str
    path: str
    title: str
    heading: str
    content: str
    snippet: str
    score: float
    lexical_score: float | None
    vector_score: float | None
    start_line: int
    end_line: int


def make_snippet(content: str, terms: list[str], limit: int = SNIPPET_CHARS) -> str:
    """A window of `content` around the densest cluster of query terms."""
    flat = " ".join(content.split())
    if len(flat) <= limit:
        return flat
    lower = flat.lower()
    positions = [m.start() for term in terms for m in re.finditer(re.escape(term), lower)]
    if not positions:
        return flat[: limit - 1].rstrip() + "…"
    positions.sort()
    best_start, best_count = positions[0], 0
    for i, start in enumerate(positions):
        count = sum(1 for p in positions[i:] if p < start + limit)
        if count > best_count:
            best_start, best_count = start, count
    begin = max(0, min(best_start - limit // 4, len(flat) - limit))
    end = begin + limit
    prefix = "…" if begin > 0 else ""
    suffix = "…" if end < len(flat) else ""
    return prefix + flat[begin:end].strip() + suffix


_CHUNKS_SQL = text(
    """
    SELECT c.id, c.document_id, d.path, d.title, c.heading, c.content, c.start_line, c.end_line
    FROM kb_chunks AS c JOIN kb_documents AS d ON d.id = c.document_id
    WHERE c.id IN :ids
    """
).bindparams(bindparam("ids", expanding=True))


def load_hits(conn: Connection, query: str, ranked: list[Fused]) -> list[SearchHit]:
    """The passages of fused results, in the fused order, with snippets for `query` (a unit
    of work)."""
    if not ranked:
        return []
    rows = conn.execute(_CHUNKS_SQL, {"ids": [item.chunk_id for item in ranked]})
    by_id = {row.id: row for row in rows}
    terms = query_terms(query)
    hits = []
    for item in ranked:
        row = by_id.get(item.chunk_id)
        if row is None:  # deleted between the two queries
            continue
        hits.append(
            SearchHit(
                chunk_id=row.id,
                document_id=str(uuid.UUID(str(row.document_id))),
                path=row.path,
                title=row.title,
                heading=row.heading,
                content=row.content,
                snippet=make_snippet(row.content, terms),
                score=item.score,
                lexical_score=item.lexical_score,
                vector_score=None if item.vector_score is None else round(item.vector_score, 6),
                start_line=row.start_line,
                end_line=row.end_line,
            )
        )
    return hits
