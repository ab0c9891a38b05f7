"""`POST /chats/{id}/messages/{message_id}/cancel`: the Stop button stops the turn on the server,
in this process or in another one, and keeps the usage it ran up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx

from qna_agent.chat.events import STOPPED
from qna_agent.config import Settings
from tests.fakes import FakeLLM, Reply, text
from tests.support.app import client_for, create_key, new_chat, parse_sse, running_app

SLOW = 30.0  # the model's last answer would take this long


def llm_settings(settings_factory: Callable[..., Settings], llm: FakeLLM, **extra: Any) -> Settings:
    return settings_factory(
        llm_provider="openai",
        llm_base_url=llm.base_url,
        llm_max_retries=0,
        llm_prices={"fake-model": {"prompt": 2.0, "completion": 10.0}},
        **extra,
    )


def script_slow_turn(llm: FakeLLM) -> None:
    """A search (70 + 7 tokens), then an answer that takes far too long."""
    llm.script(
        Reply(
            tool_calls=[("search_knowledge_base", {"query": "returns"})],
            prompt_tokens=70,
            completion_tokens=7,
        ),
        text("never delivered", delay=SLOW),
    )


async def _until(condition: Callable[[], bool], what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def test_cancel_stops_the_turn_and_keeps_its_usage(
    settings_factory: Callable[..., Settings], fake_llm: FakeLLM
) -> None:
    script_slow_turn(fake_llm)
    async with (
        running_app(llm_settings(settings_factory, fake_llm)) as (app, _),
        client_for(app) as client,
    ):
        chat_id = await new_chat(client)
        streaming = asyncio.create_task(
            client.post(f"/chats/{chat_id}/messages?stream=true", json={"content": "q"})
        )
        await _until(lambda: len(fake_llm.requests) == 2, "the slow model call")
        page = (await client.get(f"/chats/{chat_id}/messages")).json()["data"]
        message_id = page[-1]["id"]
        started = time.monotonic()
        cancelled = await client.post(f"/chats/{chat_id}/messages/{message_id}/cancel")
        streamed = await streaming
        assert time.monotonic() - started < SLOW / 3
        stored = (await client.get(f"/chats/{chat_id}/messages/{message_id}")).json()
        again = await client.post(f"/chats/{chat_id}/messages/{message_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert (body["status"], body["error"]) == ("failed", STOPPED)
    assert body["usage"] == {"prompt_tokens": 70, "completion_tokens": 7, "cost_micros": 210}
    assert stored == body
    events = parse_sse(streamed.text)
    assert events[-1]["event"] == "error"
    assert events[-1]["data"]["problem"]["status"] == 409
    assert events[-1]["data"]["message"]["error"] == STOPPED
    # Only a turn in progress can be cancelled.
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    assert again.json()["message_status"] == "failed"


async def test_cancel_answers_409_and_404_like_the_other_routes(
    settings_factory: Callable[..., Settings],
) -> None:
    async with running_app(settings_factory()) as (app, services):
        async with client_for(app) as owner:
            chat_id = await new_chat(owner)
            answer = (
                await owner.post(f"/chats/{chat_id}/messages", json={"content": "Returns?"})
            ).json()
            page = (await owner.get(f"/chats/{chat_id}/messages")).json()["data"]
            question = page[0]["id"]
            base = f"/chats/{chat_id}/messages"
            finished = await owner.post(f"{base}/{answer['id']}/cancel")
            of_question = await owner.post(f"{base}/{question}/cancel")
            unknown = await owner.post(f"{base}/01a2f000-0000-7000-8000-000000000000/cancel")
        stranger_key = await create_key(services, "stranger")
        async with client_for(app, key=stranger_key) as stranger:
            foreign = await stranger.post(f"{base}/{answer['id']}/cancel")
    assert finished.status_code == 409 and finished.json()["message_status"] == "completed"
    assert of_question.status_code == 409
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    assert foreign.status_code == 404  # not yours: as if it did not exist
    assert foreign.json()["detail"] == f"chat {chat_id} not found"


async def test_cancel_reaches_a_turn_running_in_another_process(
    settings_factory: Callable[..., Settings], fake_llm: FakeLLM
) -> None:
    # Two app instances on one database, as two workers or replicas: the turn runs in the
    # first, the Stop reaches the second, and the first's heartbeat carries it over.
    settings = llm_settings(settings_factory, fake_llm, turn_heartbeat_seconds=0.2)
    script_slow_turn(fake_llm)
    async with (
        running_app(settings) as (running, _),
        running_app(settings) as (other, _),
        client_for(running) as first,
    ):
        chat_id = await new_chat(first)
        asking = asyncio.create_task(
            first.post(f"/chats/{chat_id}/messages", json={"content": "q"})
        )
        await _until(lambda: len(fake_llm.requests) == 2, "the slow model call")
        message_id = (await first.get(f"/chats/{chat_id}/messages")).json()["data"][-1]["id"]
        async with client_for(other) as second:
            cancelled = await second.post(f"/chats/{chat_id}/messages/{message_id}/cancel")
        answered = await asyncio.wait_for(asking, SLOW / 3)
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["status"], cancelled.json()["error"]) == ("failed", STOPPED)
    assert cancelled.json()["usage"]["prompt_tokens"] == 70
    assert answered.status_code == 409
    assert answered.json()["message_id"] == message_id


async def test_cancel_is_in_the_openapi_schema(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    operation = schema["paths"]["/chats/{chat_id}/messages/{message_id}/cancel"]["post"]
    assert {"200", "202", "404", "409"} <= set(operation["responses"])
