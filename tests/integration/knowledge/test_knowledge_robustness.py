"""Bad documents never stop the knowledge base: a damaged, binary or unstorable file is
skipped with its reason (sync) or refused with a 422 (upload), and the rest is served."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text

from qna_agent.config import Settings
from qna_agent.container import Services, build_services, prepare
from tests.fakes import running_embeddings_server
from tests.support.app import client_for, running_app
from tests.support.documents import corrupted_pdfs

GOOD = b"# Kettle care\n\nDescale the Ember kettle every four weeks.\n"
NUL_TEXT = b"Quokka lamps\x00 need a new bulb every spring.\n"
BINARY = bytes(range(256)) * 8
CP1252 = "# Café crème\n\nOur café serves crème brûlée \u2013 on Sundays.\n".encode("cp1252")


def bad_directory(root: Path) -> Path:
    """A knowledge directory with one good file and every kind of bad one."""
    root.mkdir()
    (root / "good.md").write_bytes(GOOD)
    (root / "nul.txt").write_bytes(NUL_TEXT)
    (root / "binary.txt").write_bytes(BINARY)
    (root / "cp1252.md").write_bytes(CP1252)
    for name, data in corrupted_pdfs().items():
        (root / name).write_bytes(data)
    return root


async def test_bad_files_are_skipped_and_the_server_becomes_ready(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    directory = bad_directory(tmp_path / "kb")
    settings = settings_factory(knowledge_dir=directory, kb_embedder="none")
    async with running_app(settings) as (app, services), client_for(app) as client:
        ready = await client.get("/health/ready")
        assert ready.status_code == 200, ready.text
        report = services.knowledge.last_sync
        assert report is not None
        assert sorted(report.added) == ["cp1252.md", "good.md", "nul.txt"]
        skipped = dict(report.skipped)
        assert skipped.keys() == {"binary.txt", *corrupted_pdfs()}
        assert "binary data" in skipped["binary.txt"]
        assert all("PDF" in skipped[name] for name in corrupted_pdfs())
        # NUL is removed (PostgreSQL cannot store it), the text around it kept.
        (hit,) = (await client.get("/kb/search", params={"q": "quokka bulb"})).json()["results"]
        assert hit["source"] == "nul.txt"
        passage = (await client.get(f"/kb/chunks/{hit['chunk_id']}")).json()
        assert passage["content"] == "Quokka lamps need a new bulb every spring."
        # Windows-1252 is decoded, not refused.
        found = (await client.get("/kb/search", params={"q": "brûlée"})).json()["results"]
        assert found[0]["source"] == "cp1252.md"
        assert found[0]["heading"] == "Café crème"


async def test_bad_uploads_are_422_and_leave_nothing(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(kb_embedder="none", kb_sync_on_start=False)
    async with running_app(settings) as (app, _), client_for(app) as client:
        for name, data in [*corrupted_pdfs().items(), ("binary.txt", BINARY)]:
            response = await client.post("/kb/documents", files={"file": (name, data)})
            assert response.status_code == 422, (name, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            assert name in response.json()["detail"]
        assert (await client.get("/kb/documents")).json()["data"] == []
        stored = await client.post("/kb/documents", files={"file": ("nul.txt", NUL_TEXT)})
        assert stored.status_code == 201, stored.text


async def _refuse_chunks_containing(services: Services, word: str) -> None:
    """Make the database itself reject a passage, as PostgreSQL rejects what it cannot store."""
    async with services.database.write_sessions.begin() as session:
        if services.database.is_sqlite:
            await session.execute(
                text(
                    "CREATE TRIGGER refuse_word BEFORE INSERT ON kb_chunks "
                    f"WHEN NEW.content LIKE '%{word}%' "
                    "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
                )
            )
            return
        await session.execute(
            text(
                "CREATE FUNCTION refuse_word() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF NEW.content LIKE '%{word}%' THEN RAISE EXCEPTION 'refused by the test' "
                "USING ERRCODE = '22021'; END IF; RETURN NEW; END $$"
            )
        )
        await session.execute(
            text(
                "CREATE TRIGGER refuse_word BEFORE INSERT ON kb_chunks "
                "FOR EACH ROW EXECUTE FUNCTION refuse_word()"
            )
        )


async def test_a_file_the_database_refuses_is_skipped_not_the_sync(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    directory = tmp_path / "kb"
    directory.mkdir()
    (directory / "a.md").write_text("# A\n\nThe alpha policy covers kettles.\n")
    (directory / "b.md").write_text("# B\n\nThe beta policy covers tents.\n")
    services = build_services(settings_factory(knowledge_dir=directory, kb_embedder="none"))
    try:
        await prepare(services)
        await _refuse_chunks_containing(services, "zebra")
        (directory / "a.md").write_text("# A\n\nThe alpha policy covers zebra lamps.\n")
        (directory / "c.md").write_text("# C\n\nCrossings with zebra stripes are not covered.\n")
        (directory / "d.md").write_text("# D\n\nThe delta policy covers stoves.\n")
        report = await services.knowledge.sync()
        assert (report.added, report.unchanged) == (["d.md"], ["b.md"])
        skipped = dict(report.skipped)
        assert skipped.keys() == {"a.md", "c.md"}
        assert skipped["c.md"].startswith("cannot be stored (")
        assert "refused by the test" in skipped["c.md"]
        # The old a.md must not stay searchable as if it were current.
        assert report.removed == ["a.md"]
        assert await services.knowledge.search("kettles", 3) == []
        assert [hit.path for hit in await services.knowledge.search("stoves", 3)] == ["d.md"]
    finally:
        await services.close()


async def test_an_embeddings_outage_degrades_search_and_refuses_uploads(
    settings_factory: Callable[..., Settings],
) -> None:
    with running_embeddings_server() as embeddings:
        settings = settings_factory(
            kb_embedder="openai",
            kb_embeddings_base_url=embeddings.base_url,
            kb_embeddings_model="fake-embed",
        )
        async with running_app(settings) as (app, _), client_for(app) as client:
            query = {"q": "how long is the return window"}
            embeddings.status = 503
            down = await client.get("/kb/search", params=query)
            assert down.status_code == 200, down.text
            results = down.json()["results"]
            assert results and results[0]["source"] == "refund-policy.md"
            assert all(r["vector_score"] is None for r in results)  # lexical only

            refused = await client.post("/kb/documents", files={"file": ("a.md", GOOD)})
            assert refused.status_code == 502, refused.text
            assert refused.json()["code"] == "upstream_error"
            assert "HTTP 503" in refused.json()["detail"]

            chat = (await client.post("/chats", json={})).json()["id"]
            answer = await client.post(
                f"/chats/{chat}/messages", json={"content": "How long do I have to return it?"}
            )
            assert answer.status_code == 201, answer.text
            assert "30 days" in answer.json()["content"]

            embeddings.status = 200  # the degraded result was not cached
            back = (await client.get("/kb/search", params=query)).json()["results"]
            assert any(r["vector_score"] is not None for r in back)
