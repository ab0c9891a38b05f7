"""`RATE_LIMIT_TOKENS_PER_DAY=N`: however many turns run at once, through whichever front door,
they never spend more than N tokens (once: 16 concurrent turns spent 38,266 of 10,000)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
import redis
from pydantic import SecretStr

from qna_agent.config import Settings
from tests.fakes import FakeLLM, Reply, text
from tests.support.app import client_for, new_chat, running_app
from tests.support.redis_server import redis_url_or_skip

BUDGET = 10_000
# Each model call reports ~1,000 prompt tokens, as the reproduction did.
PROMPT_TOKENS, COMPLETION_TOKENS = 1_000, 40


async def _ask(client: httpx.AsyncClient, chat_id: str, number: int) -> int:
    if number % 2:  # half the turns through /v1, which shares the budget
        body: dict[str, Any] = {
            "model": "qna-agent",
            "messages": [{"role": "user", "content": f"How do returns work? ({number})"}],
        }
        return (await client.post("/v1/chat/completions", json=body)).status_code
    path = f"/chats/{chat_id}/messages"
    return (await client.post(path, json={"content": f"returns? ({number})"})).status_code


async def _spend(settings: Settings, fake_llm: FakeLLM) -> None:
    fake_llm.default = text(
        "Thirty days.", prompt_tokens=PROMPT_TOKENS, completion_tokens=COMPLETION_TOKENS
    )
    # Some turns take two model calls: the second is covered before it is made.
    search = Reply(
        tool_calls=[("search_knowledge_base", {"query": "returns"})],
        prompt_tokens=PROMPT_TOKENS,
        completion_tokens=COMPLETION_TOKENS,
    )
    fake_llm.script(*[search] * 4)
    configured = settings.model_copy(
        update={
            "llm_provider": "openai",
            "llm_base_url": fake_llm.base_url,
            "llm_max_retries": 0,
            "rate_limit_tokens_per_day": BUDGET,
            "max_streams_per_principal": 100,
        }
    )
    async with running_app(configured) as (app, services), client_for(app) as client:
        chats = [await new_chat(client) for _ in range(19)]
        sequential = [await _ask(client, chats[i], i) for i in range(3)]
        concurrent = await asyncio.gather(*(_ask(client, chats[i], i) for i in range(3, 19)))
        used = await services.security.budget.used_today("anonymous")
    statuses = sequential + list(concurrent)
    assert set(statuses) <= {200, 201, 429}, statuses
    assert 429 in concurrent  # the budget ran out...
    assert statuses.count(200) + statuses.count(201) >= 3  # ...after some turns ran
    calls = len(fake_llm.requests)
    assert used == calls * (PROMPT_TOKENS + COMPLETION_TOKENS)  # settled to what was reported
    assert used <= BUDGET


async def test_concurrent_turns_never_spend_more_than_the_budget(
    settings: Settings, fake_llm: FakeLLM
) -> None:
    await _spend(settings, fake_llm)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_concurrent_turns_never_spend_more_than_the_budget_on_redis(
    settings: Settings, fake_llm: FakeLLM
) -> None:
    url = redis_url_or_skip()
    client = redis.Redis.from_url(url)
    try:
        for key in client.scan_iter("qna:rl:tok:anonymous:*"):
            client.delete(key)
    finally:
        client.close()
    await _spend(settings.model_copy(update={"redis_url": SecretStr(url)}), fake_llm)


async def test_the_output_limit_is_sent_and_is_what_a_call_reserves(
    settings: Settings, fake_llm: FakeLLM
) -> None:
    fake_llm.script(text("Thirty days."))
    configured = settings.model_copy(
        update={
            "llm_provider": "openai",
            "llm_base_url": fake_llm.base_url,
            "llm_max_retries": 0,
            "llm_max_output_tokens": 64,
        }
    )
    unbounded = settings.model_copy(update={"llm_provider": "openai"})
    async with running_app(configured) as (app, services), client_for(app) as client:
        chat_id = await new_chat(client)
        asked = await client.post(f"/chats/{chat_id}/messages", json={"content": "returns?"})
        assert asked.status_code == 201
        bounded_reserve = services.agent.first_call_tokens([])
    assert fake_llm.requests[0]["max_tokens"] == 64
    async with running_app(unbounded) as (_, services):
        assert services.agent.first_call_tokens([]) - bounded_reserve == 1024 - 64
