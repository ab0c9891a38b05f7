"""Lexical (BM25-style) search: SQLite FTS5, or PostgreSQL full-text with a GIN index."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, text

from qna_agent.knowledge.retrieval.fusion import Fused

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
    SELECT rowid AS id, -bm25(kb_chunks_fts, 2.0, 1.0) AS score
    FROM kb_chunks_fts
    WHERE kb_chunks_fts MATCH :match
    ORDER BY bm25(kb_chunks_fts, 2.0, 1.0)
    LIMIT :limit
    """
)

_POSTGRES_SQL = text(
    """
    SELECT c.id, ts_rank_cd(c.search_vector, q.query, 32) AS score
    FROM kb_chunks AS c, to_tsquery('english', :match) AS q(query)
    WHERE c.search_vector @@ q.query
    ORDER BY score DESC, c.id
    LIMIT :limit
    """
)

_CHUNKS_SQL = text(
    """
    SELECT c.id, c.document_id, d.path, d.title, c.heading, c.content, c.start_line, c.end_line
    FROM kb_chunks AS c JOIN kb_documents AS d ON d.id = c.document_id
    WHERE c.id IN :ids
    """
).bindparams(bindparam("ids", expanding=True))


def _document_frequencies(
    conn: Connection, terms: list[str], cache: dict[str, int]
) -> dict[str, int]:
    """How many chunks contain each term, in one round trip for the terms not cached."""
    missing = [term for term in terms if term not in cache]
    if missing:
        sqlite = conn.dialect.name == "sqlite"
        parts, params = [], {}
        for index, term in enumerate(missing):
            params[f"t{index}"] = term
            params[f"m{index}"] = f'"{term}"' if sqlite else term
            condition = (
                f"kb_chunks_fts MATCH :m{index}"
                if sqlite
                else f"search_vector @@ to_tsquery('english', :m{index})"
            )
            table = "kb_chunks_fts" if sqlite else "kb_chunks"
            parts.append(
                f"SELECT :t{index} AS term, (SELECT count(*) FROM {table} WHERE {condition}) AS n"
            )
        rows = conn.execute(text(" UNION ALL ".join(parts)), params)
        cache.update({str(row.term): int(row.n) for row in rows})
    return {term: cache[term] for term in terms}


def prune_common_terms(frequencies: dict[str, int], max_postings: int) -> list[str]:
    """The rarest terms whose matches add up to at most `max_postings` (at least one term).

    Ranking every chunk that contains a very common word is what makes an OR query slow on a
    large index, and such words carry almost no weight in BM25 anyway (low IDF): this is the
    same bet as a stop-word list, made from the index's own statistics.
    """
    kept: list[str] = []
    total = 0
    for term, count in sorted(frequencies.items(), key=lambda item: (item[1], item[0])):
        if count == 0:
            continue
        if kept and total + count > max_postings:
            break
        kept.append(term)
        total += count
    return kept


def lexical_candidates(
    conn: Connection,
    query: str,
    limit: int,
    *,
    df_cache: dict[str, int] | None = None,
    total_chunks: int | None = None,
    max_postings: int = 5000,
) -> list[tuple[int, float]]:
    """Chunk ids and BM25-style scores of the best lexical matches, best first (a unit of
    work: see `Database.read`).

    With `df_cache` (document frequencies, valid for one index version), the most common
    terms are left out once the query would rank more than `max_postings` matches. An index
    too small for that to happen (`total_chunks`) skips the frequency look-up.
    """
    terms = query_terms(query)
    small = total_chunks is not None and total_chunks * len(terms) <= max_postings
    if df_cache is not None and terms and not small:
        terms = prune_common_terms(_document_frequencies(conn, terms, df_cache), max_postings)
    if not terms:
        return []
    if conn.dialect.name == "sqlite":
        statement = _SQLITE_SQL
        match = " OR ".join(f'"{term}"' for term in terms)
    else:
        statement = _POSTGRES_SQL
        match = " | ".join(terms)
    rows = conn.execute(statement, {"match": match, "limit": limit})
    return [(int(row.id), round(float(row.score), 6)) for row in rows]


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
