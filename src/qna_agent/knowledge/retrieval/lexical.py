"""Lexical (BM25-style) search: SQLite FTS5, or PostgreSQL full-text with a GIN index."""

from __future__ import annotations

from sqlalchemy import Connection, text

from qna_agent.knowledge.retrieval.query_terms import query_terms

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
