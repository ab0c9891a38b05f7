"""A flaky or dead language model: retries, the circuit breaker, failed turns and `retry`."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx

from qna_agent.config import Settings
from tests.fakes import FakeLLM, failure, text
from tests.support.app import client_for, new_chat, parse_sse, running_app
from tests.support.processes import free_port

QUESTION = "How long do I have to return an item?"


def flaky(settings: Settings, fake_llm: FakeLLM, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "llm_provider": "openai",
        "llm_base_url": fake_llm.base_url,
        "llm_max_retries": 2,
        "llm_retry_base_seconds": 0.01,
    }
    values.update(overrides)
    return settings.model_copy(update=values)


async def test_two_failures_then_success_is_one_successful_turn(
    settings: Settings, fake_llm: FakeLLM
) -> None:
    fake_llm.script(failure(503), failure(502), text("Thirty days."))
    async with running_app(flaky(settings, fake_llm)) as (app, _), client_for(app) as client:
        chat_id = await new_chat(client)
        response = await client.post(f"/chats/{chat_id}/messages", json={"content": QUESTION})
        history = (await client.get(f"/chats/{chat_id}/messages")).json()["data"]
    assert response.status_code == 201, response.text
    assert response.json()["content"] == "Thirty days."
    assert len(fake_llm.requests) == 3
    assert [m["status"] for m in history] == ["completed", "completed"]


async def test_streamed_step_is_retried_before_any_text(
    settings: Settings, fake_llm: FakeLLM
) -> None:
    fake_llm.script(failure(500), text("Thirty days from delivery."))
    async with running_app(flaky(settings, fake_llm)) as (app, _), client_for(app) as client:
        chat_id = await new_chat(client)
        response = await client.post(
            f"/chats/{chat_id}/messages", params={"stream": "true"}, json={"content": QUESTION}
        )
    events = parse_sse(response.text)
    deltas = "".join(e["data"]["delta"] for e in events if e["event"] == "message.delta")
    assert deltas == "Thirty days from delivery."
    assert events[-1]["event"] == "message.completed"


async def test_an_error_reported_inside_the_stream_fails_the_turn_cleanly(
    settings: Settings, fake_llm: FakeLLM
) -> None:
    fake_llm.script(text("Thirty", stream_error="upstream overloaded"))
    async with running_app(flaky(settings, fake_llm)) as (app, _), client_for(app) as client:
        chat_id = await new_chat(client)
        response = await client.post(
            f"/chats/{chat_id}/messages", params={"stream": "true"}, json={"content": QUESTION}
        )
        history = (await client.get(f"/chats/{chat_id}/messages")).json()["data"]
    events = parse_sse(response.text)
    assert events[-1]["event"] == "error"
    problem = events[-1]["data"]["problem"]
    assert "upstream overloaded" in problem["detail"]
    assert problem["status"] == 502
    assert history[-1]["status"] == "failed"
    assert "upstream overloaded" in history[-1]["error"]


async def test_a_refused_connection_is_a_502_and_a_slow_model_a_504(
    settings: Settings, fake_llm: FakeLLM
) -> None:
    closed = flaky(settings, fake_llm, llm_base_url=f"http://127.0.0.1:{free_port()}/v1")
    async with running_app(closed) as (app, _), client_for(app) as client:
        chat_id = await new_chat(client)
        started = time.monotonic()
        refused = await client.post(f"/chats/{chat_id}/messages", json={"content": QUESTION})
        took = time.monotonic() - started
    assert refused.status_code == 502, refused.text
    assert refused.json()["detail"] == "cannot reach the language model endpoint"
    assert took < 5  # refused at once, not waited out as a timeout

    fake_llm.script(text("late", delay=3))
    slow = flaky(settings, fake_llm, llm_timeout_seconds=0.5, llm_max_retries=0)
    async with running_app(slow) as (app, _), client_for(app) as client:
        chat_id = await new_chat(client)
        late = await client.post(f"/chats/{chat_id}/messages", json={"content": QUESTION})
        history = (await client.get(f"/chats/{chat_id}/messages")).json()["data"]
    assert late.status_code == 504, late.text
    assert "did not answer in time" in late.json()["detail"]
    assert history[-1]["status"] == "failed"


async def test_retry_after_is_respected_and_client_errors_are_not_retried(
    settings: Settings, fake_llm: FakeLLM
) -> None:
    fake_llm.script(failure(429, headers={"Retry-After": "0.4"}), text("ok"), failure(400))
    configured = flaky(settings, fake_llm, llm_retry_base_seconds=0)
    async with running_app(configured) as (app, _), client_for(app) as client:
        chat_id = await new_chat(client)
        started = time.monotonic()
        first = await client.post(f"/chats/{chat_id}/messages", json={"content": QUESTION})
        waited = time.monotonic() - started
        second = await client.post(f"/chats/{chat_id}/messages", json={"content": QUESTION})
    assert first.status_code == 201
    assert waited >= 0.4
    assert second.status_code == 502
    assert second.json()["upstream_status"] == 400
    assert len(fake_llm.requests) == 3  # the 400 was not tried again


async def test_dead_provider_fails_fast_and_retry_completes_the_turn_later(
    settings: Settings, fake_llm: FakeLLM
) -> None:
    fake_llm.script(failure(503), failure(503))
    configured = flaky(
        settings, fake_llm, llm_max_retries=1, llm_breaker_failures=2, llm_breaker_reset_seconds=0.5
    )
    async with running_app(configured) as (app, _), client_for(app) as client:
        chat_id = await new_chat(client)
        first = await client.post(f"/chats/{chat_id}/messages", json={"content": QUESTION})
        assert first.status_code == 502
        assert first.json()["upstream"] == "llm"

        started = time.monotonic()
        second = await client.post(f"/chats/{chat_id}/messages", json={"content": QUESTION})
        assert time.monotonic() - started < 0.5
        assert second.status_code == 503
        assert second.headers["content-type"].startswith("application/problem+json")
        assert int(second.headers["retry-after"]) >= 1
        problem = second.json()
        assert problem["code"] == "service_unavailable"
        assert "circuit breaker" in problem["detail"]
        assert len(fake_llm.requests) == 2  # the open breaker did not call the provider
        failed_id = problem["message_id"]
        stored = (await client.get(f"/chats/{chat_id}/messages/{failed_id}")).json()
        assert stored["status"] == "failed" and "circuit breaker" in stored["error"]

        fake_llm.script(text("You have 30 days."))
        await asyncio.sleep(0.6)  # the breaker lets one trial call through
        retried = await client.post(f"/chats/{chat_id}/messages/{failed_id}/retry")
        assert retried.status_code == 200, retried.text
        assert retried.json()["id"] == failed_id
        assert retried.json()["status"] == "completed"
        assert retried.json()["content"] == "You have 30 days."
        # The model saw the original question again, after the history of the chat.
        assert fake_llm.requests[-1]["messages"][-1] == {"role": "user", "content": QUESTION}

        again = await client.post(f"/chats/{chat_id}/messages/{failed_id}/retry")
        assert again.status_code == 409
        assert again.json()["code"] == "conflict"
        history = (await client.get(f"/chats/{chat_id}/messages")).json()["data"]
    assert [m["status"] for m in history] == ["completed", "failed", "completed", "completed"]


async def test_retry_of_unknown_or_user_message_is_refused(client: httpx.AsyncClient) -> None:
    chat_id = await new_chat(client)
    answer = (await client.post(f"/chats/{chat_id}/messages", json={"content": QUESTION})).json()
    user_id = (await client.get(f"/chats/{chat_id}/messages")).json()["data"][0]["id"]
    refused = await client.post(f"/chats/{chat_id}/messages/{user_id}/retry")
    assert refused.status_code == 409
    completed = await client.post(f"/chats/{chat_id}/messages/{answer['id']}/retry")
    assert completed.status_code == 409
    assert "completed" in completed.json()["detail"]
    missing = await client.post(f"/chats/{chat_id}/messages/{uuid.uuid4()}/retry")
    assert missing.status_code == 404
