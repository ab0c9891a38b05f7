"""Every front door admits turns through the one engine, so each gives the same answers: the
chats API (problem+json), `/v1` (OpenAI's error shape) and `qna-agent ask/chat --local` (an
error line and exit code 2). `/v1` is stateless (the client sends the conversation; nothing
is stored), so it has no chat or message quota and no Idempotency-Key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from qna_agent.cli.common import EXIT_CONFIG, CliError
from qna_agent.cli.local import LocalBackend
from qna_agent.config import Settings
from tests.support.app import client_for, make_settings, new_chat, running_app

V1 = "/v1/chat/completions"


def _v1(content: str) -> dict[str, Any]:
    return {"model": "qna-agent", "messages": [{"role": "user", "content": content}]}


@asynccontextmanager
async def _doors(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, LocalBackend]]:
    async with running_app(settings) as (app, _), client_for(app) as client:
        local = await LocalBackend.open(settings)
        try:
            yield client, local
        finally:
            await local.aclose()


async def _local_refusal(local: LocalBackend, chat_id: str, content: str) -> CliError:
    with pytest.raises(CliError) as refused:
        async for _ in local.ask(chat_id, content):
            pass
    assert refused.value.exit_code == EXIT_CONFIG
    return refused.value


@pytest.fixture
def tmp_settings(tmp_path: Path) -> Any:
    def build(**overrides: Any) -> Settings:
        return make_settings(tmp_path, kb_sync_on_start=False, **overrides)

    return build


async def test_a_question_too_long_is_refused_by_every_door(tmp_settings: Any) -> None:
    async with _doors(tmp_settings(max_message_chars=10)) as (client, local):
        chat_id = await new_chat(client)
        api = await client.post(f"/chats/{chat_id}/messages", json={"content": "x" * 11})
        assert api.status_code == 422
        assert api.json()["detail"] == "message is 11 characters; the limit is 10"
        v1 = await client.post(V1, json=_v1("x" * 11))
        assert v1.status_code == 400
        assert v1.json()["error"]["code"] == "message_too_long"
        assert v1.json()["error"]["param"] == "messages.0.content"
        cli = await _local_refusal(local, await local.create_chat(None), "x" * 11)
        assert str(cli) == "message is 11 characters; the limit is 10"
        assert (await client.get(f"/chats/{chat_id}/messages")).json()["data"] == []


async def test_an_exhausted_budget_is_refused_by_every_door(tmp_settings: Any) -> None:
    async with _doors(tmp_settings(rate_limit_tokens_per_day=1)) as (client, local):
        chat_id = await new_chat(client)
        api = await client.post(f"/chats/{chat_id}/messages", json={"content": "refunds?"})
        assert api.status_code == 429
        detail = api.json()["detail"]
        assert detail.startswith("today's budget of 1 LLM tokens has 1 left, fewer than the ")
        assert int(api.headers["retry-after"]) >= 1
        v1 = await client.post(V1, json=_v1("refunds?"))
        assert v1.status_code == 429
        assert v1.json()["error"]["message"].startswith("today's budget of 1 LLM tokens")
        cli = await _local_refusal(local, chat_id, "refunds?")
        assert str(cli).startswith("today's budget of 1 LLM tokens has 1 left")
        assert (await client.get(f"/chats/{chat_id}/messages")).json()["data"] == []


async def test_quotas_are_kept_by_every_door_that_stores(tmp_settings: Any) -> None:
    limits = tmp_settings(max_chats_per_principal=2, max_messages_per_chat=2)
    async with _doors(limits) as (client, local):
        chat_id = await new_chat(client)
        assert (
            await client.post(f"/chats/{chat_id}/messages", json={"content": "refunds?"})
        ).status_code == 201
        api = await client.post(f"/chats/{chat_id}/messages", json={"content": "more?"})
        assert api.status_code == 409
        cli = await _local_refusal(local, chat_id, "more?")
        assert str(cli) == api.json()["detail"]
        await local.create_chat(None)  # the second chat of the same (anonymous) owner
        third = await client.post("/chats", json={})
        assert third.status_code == 409
        with pytest.raises(CliError) as refused:
            await local.create_chat(None)
        assert str(refused.value) == third.json()["detail"]


async def test_an_idempotency_key_replays_the_turn_it_started(tmp_settings: Any) -> None:
    async with _doors(tmp_settings()) as (client, _):
        chat_id = await new_chat(client)
        headers = {"Idempotency-Key": "front-door-1"}
        path = f"/chats/{chat_id}/messages"
        first = await client.post(path, json={"content": "refunds?"}, headers=headers)
        again = await client.post(path, json={"content": "refunds?"}, headers=headers)
        assert first.status_code == again.status_code == 201
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json()["id"] == first.json()["id"]
        assert len((await client.get(path)).json()["data"]) == 2  # asked once
