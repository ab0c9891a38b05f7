"""Input the databases cannot hold, oversized or malformed bodies, cursors of something else:
each a 422 (or 413) problem naming the field, identical on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.support.app import new_chat

PROBLEM = "application/problem+json"


def refused_field(response: httpx.Response, status: int = 422) -> str:
    """The first field a problem names, after checking it is one."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    assert {"type", "title", "status", "detail", "code"} <= problem.keys(), problem
    return str(problem["errors"][0]["field"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "a\u0000b"}, "title"),
        ({"title": "two\nlines"}, "title"),
        ({"metadata": {"team": "sup\u0000port"}}, "metadata.team"),
        ({"metadata": {"te\u0000am": "support"}}, "metadata.te\u0000am.[key]"),
        ({"metadata": {"k" * 65: 1}}, f"metadata.{'k' * 65}.[key]"),
        ({"metadata": {"team": "x" * 513}}, "metadata.team"),
        ({"metadata": {f"k{i}": i for i in range(51)}}, "metadata"),
        ({"metadata": {"n": 2**70 * 10**300}}, "metadata.n"),
        ({"metadata": {"n": [1]}}, "metadata.n"),
    ],
)
async def test_chat_text_and_metadata_are_bounded_and_storable(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    assert refused_field(await client.post("/chats", json=body)) == field
    chat_id = await new_chat(client)
    assert refused_field(await client.patch(f"/chats/{chat_id}", json=body)) == field
    assert (await client.get("/chats")).json()["data"][0]["metadata"] == {}


async def test_metadata_at_its_limits_is_stored(client: httpx.AsyncClient) -> None:
    metadata: dict[str, Any] = {f"{i:02d}" + "k" * 62: "v\tw\n" + "x" * 508 for i in range(48)}
    metadata.update(big=2**63 - 1, huge=10**30)
    created = await client.post("/chats", json={"title": "tab\tis not one line", "metadata": {}})
    assert refused_field(created) == "title"
    created = await client.post("/chats", json={"title": "ok", "metadata": metadata})
    assert created.status_code == 201, created.text
    stored = (await client.get(f"/chats/{created.json()['id']}")).json()["metadata"]
    # Beyond 64 bits a number is kept as a float (which PostgreSQL's jsonb then prints whole).
    assert float(stored.pop("huge")) == 1e30
    del metadata["huge"]
    assert stored == metadata


@pytest.mark.parametrize(
    "content", ["nul \u0000 inside", "bell \u0007", " ", "\n\t\r ", "\u3000\u00a0"]
)
async def test_message_content_needs_visible_storable_text(
    client: httpx.AsyncClient, content: str
) -> None:
    chat_id = await new_chat(client)
    response = await client.post(f"/chats/{chat_id}/messages", json={"content": content})
    assert refused_field(response) == "content"
    assert (await client.get(f"/chats/{chat_id}/messages")).json()["data"] == []


async def test_message_content_keeps_tabs_and_newlines(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    content = "Returns:\n\tHow long\r\ndo I have?"
    response = await client.post(f"/chats/{chat_id}/messages", json={"content": content})
    assert response.status_code == 201, response.text
    history = (await client.get(f"/chats/{chat_id}/messages")).json()["data"]
    assert history[0]["content"] == content


async def test_search_query_with_nul_is_a_422(client: httpx.AsyncClient) -> None:
    response = await client.get("/kb/search", params={"q": "refund\u0000"})
    assert refused_field(response) == "q"
    assert (await client.get("/kb/search", params={"q": "refund\twindow"})).status_code == 200


async def test_key_prefix_with_nul_is_a_422(client: httpx.AsyncClient) -> None:
    assert refused_field(await client.delete("/keys/qna_%00")) == "key_id"
    assert (await client.delete("/keys/qna_unknown")).status_code == 404


async def test_integers_beyond_the_columns_are_refused(client: httpx.AsyncClient) -> None:
    assert refused_field(await client.get("/kb/chunks/3000000000")) == "chunk_id"
    missing = await client.get(f"/kb/chunks/{2**31 - 1}")
    assert missing.status_code == 404
    assert missing.json()["code"] == "not_found"


async def test_absent_body_and_null_fields(client: httpx.AsyncClient) -> None:
    bare = await client.post("/chats")
    assert bare.status_code == 201, bare.text
    assert (bare.json()["title"], bare.json()["metadata"]) == (None, {})

    chat_id = await new_chat(client, title="Returns", metadata={"team": "a"})
    kept = await client.patch(f"/chats/{chat_id}", json={})
    assert (kept.json()["title"], kept.json()["metadata"]) == ("Returns", {"team": "a"})
    cleared = await client.patch(f"/chats/{chat_id}", json={"title": None, "metadata": None})
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["title"], cleared.json()["metadata"]) == (None, {})
    stored = (await client.get(f"/chats/{chat_id}")).json()
    assert (stored["title"], stored["metadata"]) == (None, {})


async def test_malformed_json_names_the_body(client: httpx.AsyncClient) -> None:
    headers = {"content-type": "application/json"}
    response = await client.post("/chats", content=b'{"title": ', headers=headers)
    assert refused_field(response) == "body"
    assert response.json()["errors"][0]["location"] == "body"


async def test_cursor_must_be_a_member_of_the_list(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    other_chat = await new_chat(client)
    sent = await client.post(f"/chats/{chat_id}/messages", json={"content": "refunds?"})
    message_id = sent.json()["id"]
    document_id = (await client.get("/kb/documents")).json()["data"][0]["id"]
    for url, cursor in [
        (f"/chats/{chat_id}/messages", other_chat),  # a chat is not one of its messages
        ("/chats", message_id),
        ("/chats", str(uuid.uuid4())),
        ("/kb/documents", chat_id),
    ]:
        response = await client.get(url, params={"after": cursor})
        assert refused_field(response) == "after", url
        assert cursor in response.json()["detail"]
    for url, cursor in [
        (f"/chats/{chat_id}/messages", message_id),
        ("/chats", other_chat),
        ("/kb/documents", document_id),
    ]:
        assert (await client.get(url, params={"after": cursor})).status_code == 200, url


async def test_streamed_body_past_the_limit_is_a_413(client: httpx.AsyncClient) -> None:
    pulled: list[int] = []

    async def chunks() -> Any:
        for number in range(1000):  # 64 MB if it were all read
            pulled.append(number)
            yield b" " * 65536

    response = await client.post(
        "/chats", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["connection"] == "close"
    assert response.json()["code"] == "payload_too_large"
    assert len(pulled) <= 17  # MAX_REQUEST_BYTES is 1 MiB: refused as soon as it is passed
