"""Lexical (BM25-style) search: SQLite FTS5, or PostgreSQL full-text with a GIN index."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# "how long", "how much"...: the second word asks for a kind of answer, it is not a topic.
_INTERROGATIVE = re.compile(r"\bhow (?:long|much|many|soon|often|far|quickly|fast)\b", re.I)
MAX_QUERY_TERMS = 32
SNIPPET_CHARS = 280

STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "get",
        "got",
        "im",
        "ive",
        "id",
        "dont",
        "can't",
        "cant",
        "please",
        "tell",
        "know",
        "want",
        "need",
    ]
)


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One passage found by a search, with what a citation needs."""

    chunk_id: int
    path: str
    title: str
    heading: str
    content: str
    snippet: str
    score: float
    start_line: int
    end_line: int


def query_terms(query: str) -> list[str]:
    """The distinct, meaningful lower-case words of a query, in order."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(_INTERROGATIVE.sub(" ", query.lower())):
        if word not in STOPWORDS and (len(word) > 1 or word.isdigit()):
            seen.setdefault(word, None)
    return list(seen)[:MAX_QUERY_TERMS]


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


_SQLITE_SQL = text(
    """
    SELECT c.id, d.path, d.title, c.heading, c.content, c.start_line, c.end_line,
           -bm25(kb_chunks_fts, 2.0, 1.0) AS score
    FROM kb_chunks_fts
    JOIN kb_chunks AS c ON c.id = kb_chunks_fts.rowid
    JOIN kb_documents AS d ON d.id = c.document_id
    WHERE kb_chunks_fts MATCH :match
    ORDER BY bm25(kb_chunks_fts, 2.0, 1.0)
    LIMIT :limit
    """
)

_POSTGRES_SQL = text(
    """
    SELECT c.id, d.path, d.title, c.heading, c.content, c.start_line, c.end_line,
           ts_rank_cd(c.search_vector, q.query, 32) AS score
    FROM kb_chunks AS c
    JOIN kb_documents AS d ON d.id = c.document_id,
         to_tsquery('english', :match) AS q(query)
    WHERE c.search_vector @@ q.query
    ORDER BY score DESC, c.id
    LIMIT :limit
    """
)


async def lexical_search(session: AsyncSession, query: str, top_k: int) -> list[SearchHit]:
    """The `top_k` passages that best match `query` by term statistics, best first."""
    terms = query_terms(query)
    if not terms:
        return []
    if session.get_bind().dialect.name == "sqlite":
        statement = _SQLITE_SQL
        match = " OR ".join(f'"{term}"' for term in terms)
    else:
        statement = _POSTGRES_SQL
        match = " | ".join(terms)
    rows = (await session.execute(statement, {"match": match, "limit": top_k})).all()
    return [
        SearchHit(
            chunk_id=row.id,
            path=row.path,
            title=row.title,
            heading=row.heading,
            content=row.content,
            snippet=make_snippet(row.content, terms),
            score=round(float(row.score), 6),
            start_line=row.start_line,
            end_line=row.end_line,
        )
        for row in rows
    ]
