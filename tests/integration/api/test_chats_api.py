"""The chats resource through the HTTP API, on each database."""

from __future__ import annotations

import uuid

import httpx

from tests.support.app import new_chat

PROBLEM = "application/problem+json"


async def test_create_and_get_chat(client: httpx.AsyncClient) -> None:
    created = await client.post("/chats", json={"title": "Returns", "metadata": {"team": "a"}})
    assert created.status_code == 201
    body = created.json()
    assert body["title"] == "Returns"
    assert body["metadata"] == {"team": "a"}
    assert uuid.UUID(body["id"]).version == 7

    fetched = await client.get(f"/chats/{body['id']}")
    assert fetched.status_code == 200
    got = fetched.json()
    assert got["usage"] == {
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cost_micros": 0,
        "currency": "USD",
        "assistant_messages": 0,
    }
    assert {**got, "usage": None} == body


async def test_create_chat_without_body_fields(client: httpx.AsyncClient) -> None:
    created = await client.post("/chats", json={})
    assert created.status_code == 201
    assert created.json()["title"] is None
    assert created.json()["metadata"] == {}


async def test_unknown_chat_is_a_404_problem(client: httpx.AsyncClient) -> None:
    missing = uuid.uuid4()
    for method, url in [
        ("GET", f"/chats/{missing}"),
        ("PATCH", f"/chats/{missing}"),
        ("DELETE", f"/chats/{missing}"),
        ("GET", f"/chats/{missing}/messages"),
        ("POST", f"/chats/{missing}/messages"),
    ]:
        body = (
            {"content": "hi"}
            if method == "POST"
            else ({"title": "x"} if method == "PATCH" else None)
        )
        response = await client.request(method, url, json=body)
        assert response.status_code == 404, (method, url, response.text)
        assert response.headers["content-type"].startswith(PROBLEM)
        problem = response.json()
        assert problem["status"] == 404
        assert problem["title"] == "Not Found"
        assert str(missing) in problem["detail"]


async def test_validation_errors_name_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/chats", json={"title": "x" * 201})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["errors"][0]["field"] == "title"
    assert "title" in problem["detail"]

    response = await client.post("/chats", json={"unexpected": 1})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "unexpected"

    response = await client.get("/chats/not-a-uuid")
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "chat_id"


async def test_malformed_json_is_a_422_not_a_500(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/chats", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith(PROBLEM)


async def test_patch_changes_only_given_fields(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client, title="old", metadata={"k": 1})
    renamed = await client.patch(f"/chats/{chat_id}", json={"title": "new"})
    assert renamed.status_code == 200
    assert renamed.json()["title"] == "new"
    assert renamed.json()["metadata"] == {"k": 1}

    replaced = await client.patch(f"/chats/{chat_id}", json={"metadata": {"k": 2}})
    assert replaced.json()["title"] == "new"
    assert replaced.json()["metadata"] == {"k": 2}
    assert (await client.get(f"/chats/{chat_id}")).json()["metadata"] == {"k": 2}


async def test_delete_removes_chat_and_messages(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    asked = await client.post(f"/chats/{chat_id}/messages", json={"content": "refund?"})
    assert asked.status_code == 201
    message_id = asked.json()["id"]

    deleted = await client.delete(f"/chats/{chat_id}")
    assert deleted.status_code == 204
    assert (await client.get(f"/chats/{chat_id}")).status_code == 404
    assert (await client.get(f"/chats/{chat_id}/messages/{message_id}")).status_code == 404
    assert (await client.delete(f"/chats/{chat_id}")).status_code == 404


async def test_list_chats_paginates_newest_first(client: httpx.AsyncClient) -> None:
    ids = [await new_chat(client, title=f"chat {i}") for i in range(5)]
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["after"] = cursor
        page = (await client.get("/chats", params=params)).json()
        seen.extend(chat["id"] for chat in page["data"])
        assert len(page["data"]) <= 2
        if not page["has_more"]:
            assert page["next_cursor"] is None
            break
        cursor = page["next_cursor"]
    assert seen == list(reversed(ids))


async def test_list_chats_rejects_bad_paging(client: httpx.AsyncClient) -> None:
    assert (await client.get("/chats", params={"limit": 0})).status_code == 422
    assert (await client.get("/chats", params={"limit": 101})).status_code == 422
    bad = await client.get("/chats", params={"after": "nope"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "after"


async def test_unknown_route_is_a_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith(PROBLEM)
    response = await client.put("/chats")
    assert response.status_code == 405
    assert response.headers["content-type"].startswith(PROBLEM)


async def test_request_id_is_echoed_or_made(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/health/live", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    unsafe = await client.get("/health/live", headers={"X-Request-ID": "<script>"})
    assert unsafe.headers["x-request-id"] != "<script>"
    assert len(unsafe.headers["x-request-id"]) == 32
