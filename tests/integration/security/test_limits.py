"""Rate limits, budgets, quotas and bounded inputs: each a clear 4xx problem."""

from __future__ import annotations

import asyncio

import httpx

from qna_agent.agent.types import ChatMessage
from qna_agent.config import Settings
from tests.fakes import FakeLLM, text
from tests.support.app import client_for, create_key, new_chat, running_app

PROBLEM = "application/problem+json"


async def test_requests_per_minute_per_principal(settings: Settings) -> None:
    limited = settings.model_copy(update={"rate_limit_requests_per_minute": 3})
    async with running_app(limited) as (app, services):
        alice, bob = await create_key(services, "alice"), await create_key(services, "bob")
        async with client_for(app, key=alice) as client, client_for(app, key=bob) as other:
            for remaining in (2, 1, 0):
                ok = await client.get("/chats")
                assert ok.status_code == 200
                assert ok.headers["ratelimit-limit"] == "3"
                assert ok.headers["ratelimit-remaining"] == str(remaining)
                assert 1 <= int(ok.headers["ratelimit-reset"]) <= 60
            refused = await client.get("/chats")
            assert refused.status_code == 429
            assert refused.headers["content-type"].startswith(PROBLEM)
            assert refused.json()["code"] == "rate_limited"
            assert 1 <= int(refused.headers["retry-after"]) <= 60
            assert refused.headers["ratelimit-remaining"] == "0"
            assert (await other.get("/chats")).status_code == 200  # per principal
            assert (await client.get("/health/live")).status_code == 200  # probes unlimited


async def test_daily_token_budget(settings: Settings, fake_llm: FakeLLM) -> None:
    fake_llm.script(text("first", prompt_tokens=80, completion_tokens=30), text("never"))
    configured = settings.model_copy(
        update={
            "llm_provider": "openai",
            "llm_base_url": fake_llm.base_url,
            "llm_max_retries": 0,
            "rate_limit_tokens_per_day": 1_000_000,
        }
    )
    async with running_app(configured) as (_, services):
        # What a turn on "hello" reserves before its first model call.
        reserve = services.agent.first_call_tokens([ChatMessage("user", "hello")])
    # Room for one turn's reservation, not for a second once the first spent 110.
    configured = configured.model_copy(update={"rate_limit_tokens_per_day": reserve + 50})
    async with running_app(configured) as (app, services), client_for(app) as client:
        chat_id = await new_chat(client)
        first = await client.post(f"/chats/{chat_id}/messages", json={"content": "hello"})
        assert first.status_code == 201, first.text
        assert await services.security.budget.used_today("anonymous") == 110  # settled
        second = await client.post(f"/chats/{chat_id}/messages", json={"content": "hello"})
        assert second.status_code == 429
        assert "tokens" in second.json()["detail"]
        assert f"{reserve + 50 - 110} left" in second.json()["detail"]
        assert int(second.headers["retry-after"]) <= 86_400
        assert len(fake_llm.requests) == 1
        history = (await client.get(f"/chats/{chat_id}/messages")).json()["data"]
        assert len(history) == 2  # the refused question was not stored


async def test_chats_per_principal_and_messages_per_chat(settings: Settings) -> None:
    bounded = settings.model_copy(update={"max_chats_per_principal": 2, "max_messages_per_chat": 2})
    async with running_app(bounded) as (app, _), client_for(app) as client:
        chat_id = await new_chat(client)
        await new_chat(client)
        third = await client.post("/chats", json={})
        assert third.status_code == 409
        assert third.json()["code"] == "quota_exceeded"
        assert third.json()["limit"] == 2

        assert (
            await client.post(f"/chats/{chat_id}/messages", json={"content": "refund?"})
        ).status_code == 201
        full = await client.post(f"/chats/{chat_id}/messages", json={"content": "more?"})
        assert full.status_code == 409
        assert "new chat" in full.json()["detail"]
        history = (await client.get(f"/chats/{chat_id}/messages")).json()["data"]
        assert len(history) == 2  # the refused question was not stored


async def test_concurrent_streams_per_principal(settings: Settings, fake_llm: FakeLLM) -> None:
    fake_llm.script(text("slow answer", delay=1.5), text("second answer"))
    configured = settings.model_copy(
        update={
            "llm_provider": "openai",
            "llm_base_url": fake_llm.base_url,
            "llm_max_retries": 0,
            "max_streams_per_principal": 1,
        }
    )
    async with running_app(configured) as (app, _), client_for(app) as client:
        chat_id = await new_chat(client)
        url = f"/chats/{chat_id}/messages?stream=true"
        first = asyncio.create_task(client.post(url, json={"content": "one"}))
        for _ in range(500):  # until the first turn reaches the model
            if fake_llm.requests:
                break
            await asyncio.sleep(0.01)
        second = await client.post(url, json={"content": "two"})
        assert second.status_code == 429
        assert "streamed answers" in second.json()["detail"]
        assert (await first).status_code == 200
        third = await client.post(url, json={"content": "three"})  # the slot came back
        assert third.status_code == 200
        assert "message.completed" in third.text


async def test_oversize_and_malformed_inputs(settings: Settings) -> None:
    small = settings.model_copy(update={"max_request_bytes": 2048, "max_message_chars": 100})
    async with running_app(small) as (app, _), client_for(app) as client:
        chat_id = await new_chat(client)
        cases = [
            ("POST", "/chats", {"content": b"{" + b" " * 4096 + b"}"}, 413),
            ("POST", f"/chats/{chat_id}/messages", {"json": {"content": "x" * 101}}, 422),
            ("POST", f"/chats/{chat_id}/messages", {"json": {"content": ""}}, 422),
            ("POST", f"/chats/{chat_id}/messages", {"json": {"content": 5}}, 422),
            ("POST", f"/chats/{chat_id}/messages", {"content": b"\xff\xfe"}, 422),
            ("POST", "/chats", {"json": {"metadata": {"nested": {"a": 1}}}}, 422),
            ("POST", "/chats", {"json": {"title": "\u0000" * 300}}, 422),
            ("POST", "/chats", {"json": [1, 2]}, 422),
            ("PATCH", f"/chats/{chat_id}", {"json": {"metadata": "x"}}, 422),
            ("GET", "/chats?limit=abc", {}, 422),
            ("POST", "/keys", {"json": {"name": "bad name!"}}, 422),
            ("POST", "/keys", {"json": {"name": "ok", "role": "root"}}, 422),
        ]
        for method, url, kwargs, expected in cases:
            headers = {"content-type": "application/json"}
            response = await client.request(method, url, headers=headers, **kwargs)  # type: ignore[arg-type]
            assert response.status_code == expected, (method, url, kwargs, response.text)
            assert response.headers["content-type"].startswith(PROBLEM)
        bad_key = await client.post(
            f"/chats/{chat_id}/messages",
            json={"content": "hi"},
            headers={"Idempotency-Key": "x" * 201},
        )
        assert bad_key.status_code == 422
        assert bad_key.json()["errors"][0]["field"] == "Idempotency-Key"


async def test_security_headers_and_no_cors_by_default(client: httpx.AsyncClient) -> None:
    api = await client.get("/chats")
    assert api.headers["x-content-type-options"] == "nosniff"
    assert api.headers["referrer-policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in api.headers["content-security-policy"]
    docs = await client.get("/docs")
    assert "https://cdn.jsdelivr.net" in docs.headers["content-security-policy"]
    preflight = await client.options(
        "/chats",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


async def test_cors_allows_configured_origins_only(settings: Settings) -> None:
    configured = settings.model_copy(update={"cors_origins": "https://app.example.com"})
    async with running_app(configured) as (app, _), client_for(app) as client:
        allowed = await client.options(
            "/chats",
            headers={
                "Origin": "https://app.example.com",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
            },
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
        refused = await client.options(
            "/chats",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in refused.headers
        simple = await client.get("/chats", headers={"Origin": "https://app.example.com"})
        assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
