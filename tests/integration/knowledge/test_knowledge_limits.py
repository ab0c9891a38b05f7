"""The work of one upload is bounded (bytes, pages, passages: 413) and parsing it never
stalls the event loop for the other requests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import httpx

from qna_agent.config import Settings
from tests.support.app import client_for, running_app
from tests.support.documents import pdf_document

MIB = 1024 * 1024


async def upload(client: httpx.AsyncClient, name: str, data: bytes) -> httpx.Response:
    return await client.post("/kb/documents", files={"file": (name, data)})


async def test_one_upload_is_bounded_by_the_settings(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(
        kb_embedder="none",
        kb_sync_on_start=False,
        kb_max_upload_bytes=12 * MIB,
        kb_max_document_pages=2,
        kb_max_document_chunks=3,
    )
    async with running_app(settings) as (app, _), client_for(app) as client:
        pages = await upload(client, "manual.pdf", pdf_document([["one"], ["two"], ["three"]]))
        assert pages.status_code == 413, pages.text
        assert "3 pages, more than KB_MAX_DOCUMENT_PAGES (2)" in pages.json()["detail"]
        assert pages.headers["content-type"].startswith("application/problem+json")

        long = "\n\n".join(f"# Part {i}\n\nThe text of part {i}." for i in range(4)).encode()
        passages = await upload(client, "long.md", long)
        assert passages.status_code == 413, passages.text
        assert "4 passages, more than KB_MAX_DOCUMENT_CHUNKS (3)" in passages.json()["detail"]

        # KB_MAX_UPLOAD_BYTES above the old hard-coded 10 MiB is honoured.
        script = b"<script>" + b"x" * (11 * MIB) + b"</script>"
        big = b"<html><body>" + script + b"<h1>Big page</h1><p>Small text.</p></body></html>"
        accepted = await upload(client, "big.html", big)
        assert accepted.status_code == 201, accepted.text
        assert accepted.json()["size_bytes"] == len(big)
        refused = await upload(client, "bigger.html", big + b" " * MIB)
        assert refused.status_code == 413, refused.text
        listed = (await client.get("/kb/documents")).json()["data"]
        assert [d["path"] for d in listed] == ["uploads/big.html"]


async def test_parsing_an_upload_leaves_the_event_loop_free(
    settings_factory: Callable[..., Settings],
) -> None:
    # Many pages to parse but one passage to store: parsing is what would hold the loop, for
    # long enough (0.7-1.5 s here) that a busy machine's own stalls cannot hide the difference.
    manual = pdf_document([["The big manual, page one."]] + [[""]] * 1499)
    settings = settings_factory(
        kb_embedder="none", kb_sync_on_start=False, kb_max_document_pages=1500
    )
    async with running_app(settings) as (app, _), client_for(app) as client:
        gaps: list[float] = []

        async def tick() -> None:
            while True:
                started = time.perf_counter()
                await asyncio.sleep(0.01)
                gaps.append(time.perf_counter() - started)

        ticker = asyncio.create_task(tick())
        started = time.perf_counter()
        response = await upload(client, "big-manual.pdf", manual)
        took = time.perf_counter() - started
        ticker.cancel()
        assert response.status_code == 201, response.text
        assert response.json()["chunk_count"] == 1
        # Inline, parsing held the loop for nearly the whole upload; in a thread the loop only
        # waits for its turn at the GIL.
        assert max(gaps) < took / 2, (max(gaps), took)
