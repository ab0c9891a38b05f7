"""Quotas hold under concurrent requests: a count and the insert it allows are not interleaved
with another request's (PostgreSQL's READ COMMITTED would let both pass without a lock)."""

from __future__ import annotations

import asyncio

from qna_agent.config import Settings
from tests.support.app import client_for, new_chat, running_app


async def test_concurrent_chat_creation_respects_the_quota(settings: Settings) -> None:
    bounded = settings.model_copy(update={"max_chats_per_principal": 3})
    async with running_app(bounded) as (app, _), client_for(app) as client:
        responses = await asyncio.gather(*(client.post("/chats", json={}) for _ in range(10)))
        statuses = sorted(response.status_code for response in responses)
        assert statuses == [201] * 3 + [409] * 7, statuses
        listed = (await client.get("/chats", params={"limit": 100})).json()["data"]
        assert len(listed) == 3


async def test_concurrent_turns_respect_the_message_quota(settings: Settings) -> None:
    bounded = settings.model_copy(update={"max_messages_per_chat": 6})  # three turns
    async with running_app(bounded) as (app, _), client_for(app) as client:
        chat_id = await new_chat(client)
        url = f"/chats/{chat_id}/messages"
        responses = await asyncio.gather(
            *(client.post(url, json={"content": f"refund window? ({i})"}) for i in range(10))
        )
        statuses = sorted(response.status_code for response in responses)
        assert statuses == [201] * 3 + [409] * 7, statuses
        history = (await client.get(url, params={"limit": 200})).json()["data"]
        assert len(history) == 6
