"""Turns a crash left `in_progress` are failed, never left hanging."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select

from qna_agent.chat.events import INTERRUPTED
from qna_agent.chat.liveness import fail_stale_turns
from qna_agent.chat.models import Chat, Message
from qna_agent.config import Settings
from qna_agent.container import build_services, prepare
from qna_agent.db.base import utcnow
from tests.fakes import FakeLLM, text
from tests.support.app import client_for, running_app


async def _orphan(settings: Settings, *, age: timedelta) -> tuple[str, str]:
    services = build_services(settings)
    try:
        await prepare(services)
        async with services.database.write_sessions.begin() as session:
            chat = Chat(owner_id="anonymous", meta={})
            session.add(chat)
            await session.flush()
            when = utcnow() - age
            question = Message(chat_id=chat.id, role="user", content="q", status="completed")
            session.add(question)
            await session.flush()
            answer = Message(
                chat_id=chat.id,
                role="assistant",
                status="in_progress",
                created_at=when,
                updated_at=when,
            )
            session.add(answer)
        return str(chat.id), str(answer.id)
    finally:
        await services.close()


async def test_start_up_fails_orphaned_turns(settings: Settings) -> None:
    chat_id, answer_id = await _orphan(settings, age=timedelta(hours=1))
    async with running_app(settings) as (app, _), client_for(app) as client:
        stored = (await client.get(f"/chats/{chat_id}/messages/{answer_id}")).json()
    assert stored["status"] == "failed"
    assert stored["error"] == INTERRUPTED
    history = await client_history(settings, chat_id)
    assert [m.role for m in history] == ["user", "assistant"]


async def client_history(settings: Settings, chat_id: str) -> list[Message]:
    services = build_services(settings)
    try:
        async with services.database.sessions() as session:
            rows = await session.scalars(select(Message).order_by(Message.id))
            return [m for m in rows.all() if str(m.chat_id) == chat_id]
    finally:
        await services.close()


async def test_sweep_leaves_young_turns_alone(settings: Settings) -> None:
    _, young = await _orphan(settings, age=timedelta(seconds=1))
    services = build_services(settings)
    try:
        assert await fail_stale_turns(services.database, older_than=timedelta(minutes=5)) == 0
        assert await fail_stale_turns(services.database, older_than=timedelta(0)) == 1
        async with services.database.sessions() as session:
            message = await session.get(Message, uuid.UUID(young))
            assert message is not None and message.status == "failed"
    finally:
        await services.close()


async def test_the_sweep_fails_orphans_within_seconds_and_never_a_live_turn(
    settings_factory: Callable[..., Settings], fake_llm: FakeLLM
) -> None:
    # A heartbeat of 0.2 s: an orphan is stale after 1 s, and the sweep looks every 0.4 s.
    settings = settings_factory(
        llm_provider="openai",
        llm_base_url=fake_llm.base_url,
        llm_max_retries=0,
        turn_heartbeat_seconds=0.2,
    )
    fake_llm.script(text("Slow but alive.", delay=2.5))
    async with running_app(settings) as (app, _), client_for(app) as client:
        # A turn a dead process left behind a moment ago: young, but its heartbeat has stopped.
        chat_id, orphan = await _orphan(settings, age=timedelta(0))
        live_chat = (await client.post("/chats", json={})).json()["id"]
        asking = asyncio.create_task(
            client.post(f"/chats/{live_chat}/messages", json={"content": "q"})
        )
        started = time.monotonic()
        while (await client.get(f"/chats/{chat_id}/messages/{orphan}")).json()[
            "status"
        ] == "in_progress":
            assert time.monotonic() - started < 2.0, "the orphan was not failed in time"
            await asyncio.sleep(0.05)
        # The live turn outlived several stale periods: its heartbeat kept it alive.
        page = (await client.get(f"/chats/{live_chat}/messages")).json()["data"]
        assert [m["status"] for m in page] == ["completed", "in_progress"]
        answer = await asking
        stored = (await client.get(f"/chats/{chat_id}/messages/{orphan}")).json()
    assert answer.status_code == 201 and answer.json()["status"] == "completed"
    assert stored["status"] == "failed" and stored["error"] == INTERRUPTED
