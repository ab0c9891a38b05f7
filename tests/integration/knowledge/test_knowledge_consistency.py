"""One knowledge base, many processes: a change made by one is seen by the others, uploads
and directory files never overwrite each other, and re-uploading changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from qna_agent.config import Settings
from qna_agent.container import Services, build_services, prepare
from tests.support.app import client_for, running_app

PINECONES = b"# Loyalty Club\n\nMembers earn seven pinecones for every euro they spend.\n"
# No word in common with PINECONES: only the dense retriever can find it.
PARAPHRASE = "reward points per unit of currency"


@asynccontextmanager
async def prepared(settings: Settings) -> AsyncIterator[Services]:
    """Services as one process builds them (a worker, a replica, the CLI), ready to search."""
    services = build_services(settings)
    try:
        await prepare(services)
        yield services
    finally:
        await services.close()


async def test_a_change_by_another_process_is_seen_after_the_check_interval(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    directory = tmp_path / "kb"
    directory.mkdir()
    (directory / "tents.md").write_text("# Tents\n\nOur tents are tested in Welsh rain.\n")
    settings = settings_factory(knowledge_dir=directory)
    async with prepared(settings) as server, prepared(settings) as cli:
        assert await server.knowledge.search("pinecones euro", 5) == []  # now cached
        before = {hit.path for hit in await server.knowledge.search(PARAPHRASE, 5)}

        document, _ = await cli.knowledge.upload("loyalty.md", PINECONES)
        await asyncio.sleep(1.1)  # the server checks the generation at most once a second
        hits = await server.knowledge.search("pinecones euro", 5)
        assert [hit.path for hit in hits] == ["uploads/loyalty.md"]
        # On SQLite the server's in-memory vectors were reloaded: dense search finds it too.
        dense = [h for h in await server.knowledge.search(PARAPHRASE, 5) if h.vector_score]
        assert "uploads/loyalty.md" in {hit.path for hit in dense} - before

        await cli.knowledge.delete(document.id)
        (directory / "tents.md").unlink()
        await cli.knowledge.sync()
        await asyncio.sleep(1.1)
        assert await server.knowledge.search("pinecones euro", 5) == []
        assert await server.knowledge.search("Welsh rain", 5) == []


async def test_the_periodic_rescan_also_picks_up_other_writers(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = settings_factory(kb_embedder="none")
    async with prepared(settings) as server, prepared(settings) as cli:
        assert await server.knowledge.search("pinecones", 5) == []
        await cli.knowledge.upload("loyalty.md", PINECONES)
        report = await server.knowledge.sync()  # the re-scan tick: nothing of its own changed
        assert not report.touched
        assert [h.path for h in await server.knowledge.search("pinecones", 5)] == [
            "uploads/loyalty.md"
        ]


async def upload(client: httpx.AsyncClient, name: str, data: bytes) -> httpx.Response:
    return await client.post("/kb/documents", files={"file": (name, data)})


async def test_directory_files_and_uploads_never_replace_each_other(
    settings_factory: Callable[..., Settings], tmp_path: Path
) -> None:
    directory = tmp_path / "kb"
    (directory / "uploads").mkdir(parents=True)
    (directory / "uploads" / "from-dir.md").write_text("# Dir\n\nA file about lanterns.\n")
    settings = settings_factory(knowledge_dir=directory, kb_embedder="none")
    async with running_app(settings) as (app, services), client_for(app) as client:
        # An upload may not take the path of a directory document...
        refused = await upload(client, "from-dir.md", b"# Up\n\nAn upload about kettles.\n")
        assert refused.status_code == 409, refused.text
        assert "KNOWLEDGE_DIR" in refused.json()["detail"]
        assert refused.headers["content-type"].startswith("application/problem+json")

        # ...and a directory file may not replace an acknowledged upload.
        created = (await upload(client, "z.md", PINECONES)).json()
        (directory / "uploads" / "z.md").write_text("# Z\n\nA file that arrived later.\n")
        report = await services.knowledge.sync()
        assert dict(report.skipped)["uploads/z.md"].startswith("an uploaded document has")
        (directory / "uploads" / "z.md").unlink()
        report = await services.knowledge.sync()
        assert report.removed == []
        kept = await client.get(f"/kb/documents/{created['id']}")
        assert kept.status_code == 200
        assert kept.json()["content_hash"] == created["content_hash"]
        found = (await client.get("/kb/search", params={"q": "pinecones"})).json()["results"]
        assert [r["source"] for r in found] == ["uploads/z.md"]
        lanterns = (await client.get("/kb/search", params={"q": "lanterns"})).json()["results"]
        assert [r["source"] for r in lanterns] == ["uploads/from-dir.md"]


async def test_uploading_the_same_bytes_again_keeps_the_document(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(kb_sync_on_start=False)
    async with running_app(settings) as (app, services), client_for(app) as client:
        first = await upload(client, "loyalty.md", PINECONES)
        assert first.status_code == 201
        version = services.knowledge.version
        again = await upload(client, "loyalty.md", PINECONES)
        assert again.status_code == 200
        assert again.json() == first.json()  # same id, same indexed_at: nothing re-indexed
        assert services.knowledge.version == version  # no cache was dropped either
        changed = await upload(client, "loyalty.md", PINECONES.replace(b"seven", b"nine"))
        assert changed.status_code == 200
        assert changed.json()["content_hash"] != first.json()["content_hash"]
