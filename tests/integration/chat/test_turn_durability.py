"""A turn's outcome is stored whatever the database says, and its listeners always hear the end:
NUL characters PostgreSQL refuses, a value the database rejects, a connection that drops at the
final commit (briefly, or for good)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from qna_agent.config import Settings
from tests.fakes import FakeLLM, Reply, text, tool_call
from tests.support.app import client_for, new_chat, parse_sse, running_app
from tests.support.postgres import postgres_url
from tests.support.tcp_proxy import TcpProxy

POSTGRES_ONLY = pytest.mark.parametrize(
    "backend", [pytest.param("postgres", marks=pytest.mark.postgres)]
)
ANSWER = "The private answer text 9c1e [1]."
NUL_QUERY = "SELECT 'a' || char(0) || 'b' AS joined"


def with_llm(settings_factory: Callable[..., Settings], llm: FakeLLM, **extra: Any) -> Settings:
    return settings_factory(
        llm_provider="openai", llm_base_url=llm.base_url, llm_max_retries=0, **extra
    )


@pytest.fixture
def nul_db(tmp_path: Path) -> Path:
    """An (empty) SQLite analytics database: the SQL tool's query makes the NUL itself."""
    import sqlite3

    path = tmp_path / "analytics.db"
    sqlite3.connect(path).close()
    return path


async def test_nul_characters_never_reach_the_database(
    settings_factory: Callable[..., Settings], fake_llm: FakeLLM, nul_db: Path
) -> None:
    fake_llm.script(tool_call("run_sql", query=NUL_QUERY), text("It is a\x00b [1]."))
    settings = with_llm(settings_factory, fake_llm, sql_tool_database_url=f"sqlite:///{nul_db}")
    async with running_app(settings) as (app, _), client_for(app) as client:
        chat_id = await new_chat(client)
        # A question with a NUL is the client's mistake (422); the model's and the tools'
        # output is not, and is cleaned before it is stored.
        refused = await client.post(
            f"/chats/{chat_id}/messages", json={"content": "What is\x00 it?"}
        )
        assert refused.status_code == 422, refused.text
        response = await client.post(f"/chats/{chat_id}/messages", json={"content": "What is it?"})
        assert response.status_code == 201, response.text
        answer = response.json()
        stored = (await client.get(f"/chats/{chat_id}/messages")).json()["data"]
    # The model did see the NUL the tool returned; nothing stored has one.
    tool_result = [m for m in fake_llm.requests[1]["messages"] if m["role"] == "tool"][0]
    assert "\x00" in tool_result["content"]
    assert answer["status"] == "completed"
    assert answer["content"] == "It is ab [1]."
    assert "ab" in answer["citations"][0]["snippet"]
    assert [m["content"] for m in stored] == ["What is it?", "It is ab [1]."]
    assert "\x00" not in str(stored)


@POSTGRES_ONLY
async def test_an_outcome_the_database_rejects_is_stored_as_failed(
    settings_factory: Callable[..., Settings],
    fake_llm: FakeLLM,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # PostgreSQL's INTEGER ends at 2**31 - 1: the full outcome cannot be written, ever.
    fake_llm.default = Reply(content=ANSWER, prompt_tokens=3_000_000_000)
    settings = with_llm(settings_factory, fake_llm, log_format="json", rate_limit_tokens_per_day=0)
    async with running_app(settings) as (app, _), client_for(app) as client:
        chat_id = await new_chat(client)
        blocking = await client.post(f"/chats/{chat_id}/messages", json={"content": "q"})
        streamed = await client.post(
            f"/chats/{chat_id}/messages?stream=true", json={"content": "q"}
        )
        stored = (await client.get(f"/chats/{chat_id}/messages")).json()["data"]
    assert blocking.status_code == 503, blocking.text
    assert blocking.headers["content-type"] == "application/problem+json"
    assert blocking.headers["retry-after"]
    problem = blocking.json()
    assert "could not be stored" in problem["detail"]
    events = parse_sse(streamed.text)
    assert (events[0]["event"], events[-1]["event"]) == ("message.created", "error")
    assert events[-1]["data"]["problem"]["status"] == 503
    answers = [m for m in stored if m["role"] == "assistant"]
    assert [m["status"] for m in answers] == ["failed", "failed"]
    assert all("could not be stored" in m["error"] for m in answers)
    assert answers[0]["id"] == problem["message_id"]
    logged = capsys.readouterr().err
    assert "turn_store_failed" in logged
    assert "private answer text" not in logged  # bound parameters stay out of the logs


def _proxied(settings_factory: Callable[..., Settings], llm: FakeLLM, proxy: TcpProxy) -> Settings:
    url = postgres_url()
    assert url is not None
    through = make_url(url).set(host="127.0.0.1", port=proxy.port)
    return with_llm(
        settings_factory,
        llm,
        database_url=through.render_as_string(hide_password=False),
        log_format="json",
        turn_heartbeat_seconds=0.2,
    )


def _proxy_for_postgres() -> TcpProxy:
    url = postgres_url()
    assert url is not None
    target = make_url(url)
    return TcpProxy(target.port or 5432, target.host or "127.0.0.1")


async def _wait(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@POSTGRES_ONLY
async def test_a_connection_blip_at_the_final_store_is_retried(
    settings_factory: Callable[..., Settings],
    fake_llm: FakeLLM,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_llm.script(text(ANSWER, delay=0.5))
    with _proxy_for_postgres() as proxy:
        settings = _proxied(settings_factory, fake_llm, proxy)
        async with running_app(settings) as (app, _), client_for(app) as client:
            chat_id = await new_chat(client)
            capsys.readouterr()
            asking = asyncio.create_task(
                client.post(f"/chats/{chat_id}/messages", json={"content": "q"})
            )
            await _wait(lambda: len(fake_llm.requests) == 1, 10, "the model call")
            proxy.cut()
            logged = ""

            def store_failed_once() -> bool:
                nonlocal logged
                logged += capsys.readouterr().err
                return "turn_store_retried" in logged

            await _wait(store_failed_once, 10, "a failed attempt to store the answer")
            proxy.restore()
            response = await asking
            assert response.status_code == 201, response.text
            stored = (await client.get(f"/chats/{chat_id}/messages/{response.json()['id']}")).json()
    assert stored["status"] == "completed"
    assert stored["content"] == ANSWER


@POSTGRES_ONLY
async def test_a_database_gone_at_the_final_store_still_ends_the_turn(
    settings_factory: Callable[..., Settings], fake_llm: FakeLLM
) -> None:
    fake_llm.default = text(ANSWER, delay=0.5)
    with _proxy_for_postgres() as proxy:
        settings = _proxied(settings_factory, fake_llm, proxy)
        async with running_app(settings) as (app, _), client_for(app) as client:
            chat_id = await new_chat(client)
            streaming = asyncio.create_task(
                client.post(f"/chats/{chat_id}/messages?stream=true", json={"content": "q"})
            )
            blocking = asyncio.create_task(
                client.post(f"/chats/{chat_id}/messages", json={"content": "q"})
            )
            await _wait(lambda: len(fake_llm.requests) == 2, 10, "both model calls")
            proxy.cut()
            streamed, answered = await asyncio.wait_for(asyncio.gather(streaming, blocking), 30)
            events = parse_sse(streamed.text)
            assert (events[0]["event"], events[-1]["event"]) == ("message.created", "error")
            assert events[-1]["data"]["problem"]["status"] == 503
            assert answered.status_code == 503, answered.text
            assert "could not be stored" in answered.json()["detail"]
            # Nothing could be written: once the database is back, the rows' heartbeat has
            # stopped and the sweep fails them instead of leaving them in progress.
            proxy.restore()
            base = f"/chats/{chat_id}/messages"

            async def statuses() -> list[str]:
                page = (await client.get(base)).json()["data"]
                return [m["status"] for m in page if m["role"] == "assistant"]

            deadline = time.monotonic() + 15
            while (found := await statuses()) != ["failed", "failed"]:
                assert time.monotonic() < deadline, found
                await asyncio.sleep(0.2)
            errors = {m["error"] for m in (await client.get(base)).json()["data"] if m["error"]}
    assert errors == {"interrupted: the server stopped before this turn finished"}


async def test_retry_charges_only_its_own_tokens(
    settings_factory: Callable[..., Settings], fake_llm: FakeLLM
) -> None:
    fake_llm.script(
        Reply(tool_calls=[("search_knowledge_base", {"query": "returns"})], prompt_tokens=50),
        Reply(status=500),
        text("Thirty days [1].", prompt_tokens=70, completion_tokens=10),
    )
    settings = with_llm(settings_factory, fake_llm, rate_limit_tokens_per_day=10_000)
    async with running_app(settings) as (app, services), client_for(app) as client:
        chat_id = await new_chat(client)
        failed = await client.post(f"/chats/{chat_id}/messages", json={"content": "q"})
        assert failed.status_code == 502
        message_id = failed.json()["message_id"]
        retried = await client.post(f"/chats/{chat_id}/messages/{message_id}/retry")
        assert retried.status_code == 200, retried.text
        # The message adds up both attempts; the budget was charged each attempt once.
        assert retried.json()["usage"]["prompt_tokens"] == 120
        budget = services.security.budget

        async def used() -> int:
            spent = await budget.used_today("anonymous")
            assert spent is not None
            return spent

        deadline = time.monotonic() + 5
        while await used() < 140:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)  # a double charge would land now
        assert await used() == 140  # 60 for the failed attempt, 80 for the retry
