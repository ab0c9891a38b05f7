"""`Idempotency-Key` on `POST /chats/{id}/messages`: a retry never runs the agent twice."""

from __future__ import annotations

import asyncio
import json

from qna_agent.config import Settings
from tests.fakes import FakeLLM, text
from tests.support.app import client_for, create_key, new_chat, running_app


def _llm_settings(settings: Settings, llm: FakeLLM) -> Settings:
    return settings.model_copy(
        update={"llm_provider": "openai", "llm_base_url": llm.base_url, "llm_max_retries": 0}
    )


async def test_retry_returns_the_stored_turn(settings: Settings, fake_llm: FakeLLM) -> None:
    fake_llm.script(text("30 days."))
    async with running_app(_llm_settings(settings, fake_llm)) as (app, _), client_for(app) as c:
        chat_id = await new_chat(c)
        url = f"/chats/{chat_id}/messages"
        headers = {"Idempotency-Key": "order-42-question-1"}
        first = await c.post(url, json={"content": "return window?"}, headers=headers)
        assert first.status_code == 201
        assert "idempotent-replayed" not in first.headers
        again = await c.post(url, json={"content": "return window?"}, headers=headers)
        assert again.status_code == 201
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
        streamed = await c.post(
            url + "?stream=true", json={"content": "return window?"}, headers=headers
        )
        assert streamed.status_code == 200
        events = [line for line in streamed.text.splitlines() if line.startswith("event: ")]
        assert events == ["event: message.created", "event: message.completed"]
        completed = json.loads(streamed.text.split("data: ")[-1])
        assert completed["id"] == first.json()["id"]

        different = await c.post(url, json={"content": "something else"}, headers=headers)
        assert different.status_code == 422
        assert "different request" in different.json()["detail"]
        history = (await c.get(url)).json()["data"]
        assert len(history) == 2
        assert len(fake_llm.requests) == 1


async def test_concurrent_duplicates_join_one_turn(settings: Settings, fake_llm: FakeLLM) -> None:
    fake_llm.script(text("slow but once", delay=0.5))
    async with running_app(_llm_settings(settings, fake_llm)) as (app, _), client_for(app) as c:
        chat_id = await new_chat(c)
        url = f"/chats/{chat_id}/messages"
        headers = {"Idempotency-Key": "double-click"}
        responses = await asyncio.gather(
            *(c.post(url, json={"content": "hello"}, headers=headers) for _ in range(3))
        )
        assert [r.status_code for r in responses] == [201, 201, 201]
        assert len({r.json()["id"] for r in responses}) == 1
        assert all(r.json()["status"] == "completed" for r in responses)
        assert len(fake_llm.requests) == 1
        assert len((await c.get(url)).json()["data"]) == 2


async def test_keys_are_per_principal(settings: Settings) -> None:
    async with running_app(settings) as (app, services):
        alice, bob = await create_key(services, "alice"), await create_key(services, "bob")
        async with client_for(app, key=alice) as a, client_for(app, key=bob) as b:
            headers = {"Idempotency-Key": "same-key"}
            chat_a, chat_b = await new_chat(a), await new_chat(b)
            first = await a.post(
                f"/chats/{chat_a}/messages", json={"content": "refund?"}, headers=headers
            )
            second = await b.post(
                f"/chats/{chat_b}/messages", json={"content": "shipping?"}, headers=headers
            )
            assert first.status_code == second.status_code == 201
            assert first.json()["id"] != second.json()["id"]
            assert "idempotent-replayed" not in second.headers
