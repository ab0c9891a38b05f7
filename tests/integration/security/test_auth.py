"""Authentication and tenant isolation through the HTTP API, on each database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from qna_agent.config import Settings
from qna_agent.container import Services
from qna_agent.security.keys import hash_key
from qna_agent.security.models import ApiKey
from tests.support.app import FILE_KEY, anonymous_client, client_for, create_key, running_app

PROBLEM = "application/problem+json"


@pytest.fixture
async def app_and_services(settings: Settings) -> AsyncIterator[tuple[FastAPI, Services]]:
    async with running_app(settings) as pair:
        yield pair


async def test_requests_without_a_valid_key_get_401(
    app_and_services: tuple[FastAPI, Services],
) -> None:
    app, _ = app_and_services
    async with anonymous_client(app) as client:
        for method, url in [
            ("GET", "/chats"),
            ("POST", "/chats"),
            ("GET", f"/chats/{uuid.uuid4()}/messages"),
            ("GET", "/keys"),
        ]:
            response = await client.request(method, url, json={} if method == "POST" else None)
            assert response.status_code == 401, (method, url)
            assert response.headers["content-type"].startswith(PROBLEM)
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["code"] == "unauthorized"
        bad = await client.get("/chats", headers={"Authorization": "Bearer qna_not-a-real-key"})
        assert bad.status_code == 401
        assert bad.json()["detail"] == "invalid or revoked API key"
        basic = await client.get("/chats", headers={"Authorization": "Basic dXNlcjpwYXNz"})
        assert basic.status_code == 401
        huge = await client.get("/chats", headers={"X-API-Key": "x" * 5000})
        assert huge.status_code == 401
        # Probes and the schema stay open.
        assert (await client.get("/health/live")).status_code == 200
        assert (await client.get("/health/ready")).status_code == 200
        assert (await client.get("/openapi.json")).status_code == 200


async def test_x_api_key_header_and_bootstrap_file_key(
    app_and_services: tuple[FastAPI, Services],
) -> None:
    app, services = app_and_services
    key = await create_key(services, "carol")
    async with anonymous_client(app) as client:
        response = await client.get("/chats", headers={"X-API-Key": key})
        assert response.status_code == 200
        from_file = await client.get("/keys", headers={"Authorization": f"Bearer {FILE_KEY}"})
        assert from_file.status_code == 200


async def test_keys_are_stored_hashed_and_shown_by_prefix(
    app_and_services: tuple[FastAPI, Services],
) -> None:
    app, services = app_and_services
    async with client_for(app) as admin:
        created = await admin.post("/keys", json={"name": "dave", "role": "user"})
        assert created.status_code == 201, created.text
        body = created.json()
        key = body["key"]
        assert key.startswith("qna_") and len(key) >= 40
        assert body["prefix"] == key[:12]
        listed = (await admin.get("/keys")).json()["data"]
        shown = next(k for k in listed if k["id"] == body["id"])
        assert "key" not in shown and shown["prefix"] == key[:12]
    async with services.database.sessions() as session:
        row = await session.scalar(select(ApiKey).where(ApiKey.id == uuid.UUID(body["id"])))
    assert row is not None
    assert row.key_hash == hash_key(key) and key not in (row.key_hash, row.prefix)


async def test_revocation_takes_effect_on_the_next_request(
    app_and_services: tuple[FastAPI, Services],
) -> None:
    app, _ = app_and_services
    async with client_for(app) as admin:
        created = (await admin.post("/keys", json={"name": "erin"})).json()
        async with client_for(app, key=created["key"]) as erin:
            assert (await erin.get("/chats")).status_code == 200
            assert (await admin.delete(f"/keys/{created['prefix']}")).status_code == 204
            refused = await erin.get("/chats")
            assert refused.status_code == 401
        revoked = (await admin.get("/keys", params={"include_revoked": True})).json()["data"]
        assert next(k for k in revoked if k["id"] == created["id"])["revoked_at"] is not None
        assert (await admin.delete(f"/keys/{uuid.uuid4()}")).status_code == 404


async def test_user_keys_cannot_manage_keys(app_and_services: tuple[FastAPI, Services]) -> None:
    app, services = app_and_services
    async with client_for(app, key=await create_key(services, "frank", "user")) as frank:
        for method, url in [("GET", "/keys"), ("POST", "/keys"), ("DELETE", "/keys/x")]:
            response = await frank.request(
                method, url, json={"name": "x"} if method == "POST" else None
            )
            assert response.status_code == 403, (method, url)
            assert response.json()["code"] == "forbidden"
        assert (await frank.post("/chats", json={})).status_code == 201


async def test_another_principal_gets_404_on_every_chat_route(
    app_and_services: tuple[FastAPI, Services],
) -> None:
    app, services = app_and_services
    alice_key = await create_key(services, "alice")
    bob_key = await create_key(services, "bob")
    async with client_for(app, key=alice_key) as alice, client_for(app, key=bob_key) as bob:
        chat = (await alice.post("/chats", json={"title": "private"})).json()
        asked = await alice.post(f"/chats/{chat['id']}/messages", json={"content": "refunds?"})
        assert asked.status_code == 201
        message_id = asked.json()["id"]
        chat_url = f"/chats/{chat['id']}"
        attempts = [
            ("GET", chat_url, None),
            ("PATCH", chat_url, {"title": "stolen"}),
            ("DELETE", chat_url, None),
            ("GET", f"{chat_url}/messages", None),
            ("GET", f"{chat_url}/messages/{message_id}", None),
            ("POST", f"{chat_url}/messages", {"content": "what did alice ask?"}),
            ("POST", f"{chat_url}/messages?stream=true", {"content": "and now?"}),
        ]
        for method, url, body in attempts:
            response = await bob.request(method, url, json=body)
            assert response.status_code == 404, (method, url, response.text)
            assert "private" not in response.text and "refunds" not in response.text
        assert (await bob.get("/chats")).json()["data"] == []
        # Nothing of Alice's changed.
        still = (await alice.get(chat_url)).json()
        assert (still["title"], still["updated_at"]) == (chat["title"], chat["updated_at"])
        history = (await alice.get(f"{chat_url}/messages")).json()["data"]
        assert [m["content"] for m in history][0] == "refunds?"
        assert len(history) == 2


async def test_same_name_keys_share_a_principal(app_and_services: tuple[FastAPI, Services]) -> None:
    """Rotating a key: a new key with the same name sees the same chats."""
    app, services = app_and_services
    old = await create_key(services, "gina")
    new = await create_key(services, "gina")
    async with client_for(app, key=old) as before, client_for(app, key=new) as after:
        chat_id = (await before.post("/chats", json={})).json()["id"]
        assert (await after.get(f"/chats/{chat_id}")).status_code == 200


async def test_gateway_mode_trusts_only_configured_proxies(settings: Settings) -> None:
    trusted = settings.model_copy(update={"auth_mode": "gateway", "trusted_proxies": "127.0.0.1"})
    async with running_app(trusted) as (app, _):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as gateway:
            as_hana = {"X-Forwarded-User": "hana@example.com"}
            chat = await gateway.post("/chats", json={}, headers=as_hana)
            assert chat.status_code == 201
            other = await gateway.get(
                f"/chats/{chat.json()['id']}", headers={"X-Forwarded-User": "ivan"}
            )
            assert other.status_code == 404
            assert (await gateway.get("/chats")).status_code == 401  # no user header
            assert (await gateway.get("/keys", headers=as_hana)).status_code == 403
        outside = httpx.ASGITransport(app=app, client=("192.0.2.7", 5000))
        async with httpx.AsyncClient(transport=outside, base_url="http://t") as spoofer:
            spoofed = await spoofer.get("/chats", headers={"X-Forwarded-User": "hana@example.com"})
            assert spoofed.status_code == 401


async def test_none_mode_is_one_local_admin(settings: Settings) -> None:
    local = settings.model_copy(update={"auth_mode": "none"})
    async with running_app(local) as (app, _), anonymous_client(app) as client:
        assert (await client.post("/chats", json={})).status_code == 201
        assert (await client.get("/keys")).status_code == 200


async def test_knowledge_base_roles(app_and_services: tuple[FastAPI, Services]) -> None:
    """Any principal may read and search the knowledge base; only admins change it."""
    app, services = app_and_services
    files = {"file": ("notes.md", b"# Notes\n\nStore hours are 9 to 5.\n", "text/markdown")}
    async with anonymous_client(app) as nobody:
        assert (await nobody.get("/kb/documents")).status_code == 401
        assert (await nobody.post("/kb/documents", files=files)).status_code == 401
    async with client_for(app, key=await create_key(services, "ursula", "user")) as user:
        assert (await user.get("/kb/documents")).status_code == 200
        assert (await user.get("/kb/search", params={"q": "refund"})).status_code == 200
        refused = await user.post("/kb/documents", files=files)
        assert refused.status_code == 403
    async with client_for(app) as admin:
        uploaded = await admin.post("/kb/documents", files=files)
        assert uploaded.status_code == 201, uploaded.text
        document_id = uploaded.json()["id"]
    async with client_for(app, key=await create_key(services, "victor", "user")) as user:
        assert (await user.delete(f"/kb/documents/{document_id}")).status_code == 403
    async with client_for(app) as admin:
        assert (await admin.delete(f"/kb/documents/{document_id}")).status_code == 204
