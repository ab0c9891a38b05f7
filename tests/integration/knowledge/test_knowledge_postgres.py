"""PostgreSQL's dense search: the plan uses the HNSW index, and vectors of a previous
embedder (another width) neither break the index nor the search."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from qna_agent.config import Settings
from qna_agent.container import Services, build_services, prepare
from qna_agent.knowledge.retrieval.pgvector import pg_dense_sql
from tests.fakes import running_embeddings_server

ONLY_POSTGRES = pytest.mark.parametrize(
    "backend", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
SYNTHETIC_CHUNKS = 2000


@ONLY_POSTGRES
async def test_dense_search_plan_uses_the_hnsw_index(
    settings_factory: Callable[..., Settings],
) -> None:
    with running_embeddings_server() as embeddings:
        settings = settings_factory(
            kb_embedder="openai", kb_embeddings_base_url=embeddings.base_url
        )
        services = build_services(settings)
        try:
            await prepare(services)
            await _explain_and_search(services)
        finally:
            await services.close()


async def _explain_and_search(services: Services) -> None:
    """EXPLAIN the dense query over enough rows that an exact scan would win if the index
    did not fit the query, then search through it."""
    assert services.knowledge.embeddings is not None
    dim = services.knowledge.embeddings.dim
    query = await services.knowledge.embeddings.embed_query("how long is the return window")
    literal = "[" + ",".join(f"{value:.7g}" for value in query.reshape(-1)) + "]"
    async with services.database.write_sessions.begin() as session:
        # Enough rows that an exact scan would be chosen if the index did not fit the query.
        await session.execute(
            text(
                "INSERT INTO kb_chunks (document_id, ordinal, heading, content, start_line, "
                "end_line, embedding) SELECT (SELECT min(id::text)::uuid FROM kb_documents), "
                "1000 + i, '', 'synthetic', 1, 1, (SELECT array_agg(random() - 0.5)::vector "
                f"FROM generate_series(1, {dim}) AS d WHERE d > -i) "
                f"FROM generate_series(1, {SYNTHETIC_CHUNKS}) AS i"
            )
        )
        await session.execute(text("ANALYZE kb_chunks"))
        plan = "\n".join(
            row[0]
            for row in await session.execute(
                text("EXPLAIN " + pg_dense_sql(dim)), {"query": literal, "k": 40}
            )
        )
    assert f"Index Scan using ix_kb_chunks_hnsw_{dim}" in plan, plan
    hits = await services.knowledge.search("how long is the return window", 5)
    assert any(hit.vector_score is not None for hit in hits)


@ONLY_POSTGRES
async def test_a_new_embedder_width_starts_next_to_the_old_vectors(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    directory = tmp_path / "kb"
    directory.mkdir()
    (directory / "lamps.md").write_text("# Lamps\n\nReplace the quokka bulb every spring.\n")
    with running_embeddings_server() as embeddings:
        old = build_services(
            settings_factory(
                knowledge_dir=directory,
                kb_embedder="openai",
                kb_embeddings_base_url=embeddings.base_url,
            )
        )
        try:
            await prepare(old)  # 8-wide vectors
        finally:
            await old.close()
    new = build_services(settings_factory(knowledge_dir=directory, kb_sync_on_start=False))
    try:
        await prepare(new)  # builds the 384-wide index while 8-wide vectors are stored
        report = await new.knowledge.sync()  # then re-embeds
        assert report.changed == ["lamps.md"]
        (hit,) = await new.knowledge.search("light globe replacement", 1)
        assert hit.path == "lamps.md" and hit.vector_score is not None
    finally:
        await new.close()
