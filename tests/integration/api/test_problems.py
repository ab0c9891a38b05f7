"""Every error is the same problem+json shape, whichever layer answers it."""

from __future__ import annotations

from typing import Any

import httpx

from qna_agent.config import Settings
from tests.support.app import anonymous_client, client_for, running_app

MEMBERS = {"type", "title", "status", "detail", "code", "instance"}


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The problem of a response, after checking its status, media type and members."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body.keys() >= MEMBERS, body
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert body["detail"] and body["code"]
    return body


async def test_every_layer_answers_the_same_shape(settings: Settings) -> None:
    small = settings.model_copy(update={"max_request_bytes": 2048, "kb_max_upload_bytes": 4096})
    async with (
        running_app(small) as (app, _),
        client_for(app) as client,
        anonymous_client(app) as nobody,
    ):
        route = problem(await client.get("/no/such/route"), 404)
        assert (route["title"], route["code"]) == ("Not Found", "not_found")
        assert "/no/such/route" in route["detail"]

        method = problem(await client.put("/chats"), 405)
        assert (method["title"], method["code"]) == ("Method Not Allowed", "method_not_allowed")
        assert "PUT" in method["detail"]

        # 413 from the body limit (before any parsing) and from the upload route (the file
        # itself is too large): one title, one code.
        body = problem(await client.post("/chats", content=b"{" + b" " * 4096 + b"}"), 413)
        upload = await client.post("/kb/documents", files={"file": ("big.md", b"x" * 4097)})
        file = problem(upload, 413)
        assert body["title"] == file["title"] == "Content Too Large"
        assert body["code"] == file["code"] == "payload_too_large"

        invalid = problem(await client.get("/chats", params={"limit": 0}), 422)
        assert (invalid["title"], invalid["code"]) == ("Unprocessable Content", "validation_failed")

        unauthorized = problem(await nobody.get("/chats"), 401)
        assert unauthorized["code"] == "unauthorized"
