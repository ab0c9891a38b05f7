"""Real server processes under load and faults: SIGTERM and kill -9 with several turns in
flight, a database outage and recovery, and rate limits shared through Redis."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text as sql
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.fakes import FakeLLM, text
from tests.support.postgres import postgres_url
from tests.support.processes import QUESTION, base_env, free_port, server, settled
from tests.support.redis_server import redis_url_or_skip
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.slow

TURNS = 6


class StreamClient(threading.Thread):
    """Asks one question as a stream, recording what the server acknowledged."""

    def __init__(self, url: str, chat_id: str, content: str) -> None:
        super().__init__(daemon=True)
        self.url, self.chat_id, self.content = url, chat_id, content
        self.events: list[str] = []
        self.created: dict[str, Any] | None = None
        self.completed: dict[str, Any] | None = None

    def run(self) -> None:
        try:
            with httpx.stream(
                "POST",
                f"{self.url}/chats/{self.chat_id}/messages?stream=true",
                json={"content": self.content},
                timeout=60,
            ) as response:
                event = ""
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        event = line.removeprefix("event: ")
                        self.events.append(event)
                    elif line.startswith("data: ") and event == "message.created":
                        self.created = json.loads(line.removeprefix("data: "))
                    elif line.startswith("data: ") and event == "message.completed":
                        self.completed = json.loads(line.removeprefix("data: "))
        except httpx.TransportError:
            pass  # the server was killed


def _wait(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _ask_all(url: str, count: int) -> list[StreamClient]:
    clients = []
    for i in range(count):
        chat_id = httpx.post(f"{url}/chats", json={"title": f"load {i}"}).json()["id"]
        clients.append(StreamClient(url, chat_id, f"{QUESTION} ({i})"))
    for client in clients:
        client.start()
    return clients


def _load_env(tmp_path: Path, llm: FakeLLM) -> dict[str, str]:
    env = base_env(tmp_path, llm)
    env.update(MAX_STREAMS_PER_PRINCIPAL="50", RATE_LIMIT_REQUESTS_PER_MINUTE="0")
    return env


def test_sigterm_finishes_every_stream_in_flight(tmp_path: Path) -> None:
    port = free_port()
    with FakeLLM() as llm:
        llm.script(*(text(f"answer {i} [1].", delay=1.5) for i in range(TURNS)))
        env = _load_env(tmp_path, llm)
        with server(env, port, tmp_path / "server.log") as process:
            clients = _ask_all(f"http://127.0.0.1:{port}", TURNS)
            _wait(lambda: all(c.created for c in clients), 20, "every turn to start")
            process.send_signal(signal.SIGTERM)
            for client in clients:
                client.join(timeout=40)
            assert process.wait(timeout=40) in (0, -signal.SIGTERM)
    assert all(c.events[-1] == "message.completed" for c in clients), [c.events for c in clients]
    with sqlite3.connect(tmp_path / "qna.db") as db:
        rows = db.execute("SELECT status, content FROM messages WHERE role = 'assistant'")
        stored = sorted(rows.fetchall())
    assert stored == sorted(("completed", c.completed["content"]) for c in clients if c.completed)
    assert len(stored) == TURNS


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def process_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The service database of a server process: a SQLite file, or a private PostgreSQL
    schema (dropped afterwards); as the environment variables that select it."""
    if request.param == "sqlite":
        yield {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'qna.db'}"}
        return
    url, schema = request.getfixturevalue("outage_schema")
    yield {"DATABASE_URL": url, "DATABASE_SCHEMA": schema}


def _count(database: dict[str, str], where: str) -> int:
    """`SELECT count(*) FROM messages WHERE ...` on the server's database."""
    schema = database.get("DATABASE_SCHEMA")
    options = {"server_settings": {"search_path": schema}} if schema else {}

    async def run() -> int:
        engine = create_async_engine(database["DATABASE_URL"], connect_args=options)
        try:
            async with engine.connect() as conn:
                return int(await conn.scalar(sql(f"SELECT count(*) FROM messages WHERE {where}")))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _sqlite_intact(tmp_path: Path) -> None:
    if (tmp_path / "qna.db").exists():
        with sqlite3.connect(tmp_path / "qna.db") as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_kill_9_under_load_keeps_every_acknowledged_message(
    tmp_path: Path, process_db: dict[str, str]
) -> None:
    port = free_port()
    finished = TURNS // 2
    with FakeLLM() as llm:
        # The first half answer at once, the rest are still running when the process dies.
        llm.script(*(text(f"quick {i}.") for i in range(finished)))
        llm.default = text("never delivered", delay=60)
        env = {**_load_env(tmp_path, llm), **process_db, "TURN_HEARTBEAT_SECONDS": "0.5"}
        log = tmp_path / "server.log"
        with server(env, port, log) as process:
            url = f"http://127.0.0.1:{port}"
            clients = _ask_all(url, finished)
            _wait(lambda: all(c.completed for c in clients), 20, "the quick turns")
            clients += _ask_all(url, TURNS - finished)
            _wait(lambda: all(c.created for c in clients), 20, "every turn to start")
            _wait(lambda: len(llm.requests) >= TURNS, 20, "every turn to reach the model")
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
        killed_at = time.monotonic()
        _sqlite_intact(tmp_path)
        with server(env, port, log):
            for client in clients:
                assert client.created is not None
                user_id = client.created["user_message"]["id"]
                answer_id = client.created["message"]["id"]
                base = f"{url}/chats/{client.chat_id}/messages"
                question = httpx.get(f"{base}/{user_id}").json()
                assert question["content"] == client.content
                # An orphan's heartbeat has stopped: it is failed within a few heartbeats.
                answer = settled(url, client.chat_id, answer_id, seconds=20)
                if client.completed is not None:
                    assert answer["status"] == "completed"
                    assert answer["content"] == client.completed["content"]
                else:
                    assert answer["status"] == "failed"
                    assert "interrupted" in answer["error"]
            assert time.monotonic() - killed_at < 30
    _sqlite_intact(tmp_path)
    assert _count(process_db, "status = 'in_progress'") == 0
    assert _count(process_db, "true") == 2 * TURNS


def test_a_starting_process_leaves_a_sibling_turn_alone(tmp_path: Path) -> None:
    """Two processes on one SQLite file (`serve --workers 2` is the same): one that starts
    while the other runs a turn must not take that live turn for an orphan."""
    with FakeLLM() as llm:
        # Several stale periods long: only the heartbeat keeps the turn alive.
        llm.script(text("Alive all along.", delay=20))
        env = {**base_env(tmp_path, llm), "TURN_HEARTBEAT_SECONDS": "0.5"}
        first, second = free_port(), free_port()
        with server(env, first, tmp_path / "first.log"):
            url = f"http://127.0.0.1:{first}"
            chat_id = httpx.post(f"{url}/chats", json={}).json()["id"]
            client = StreamClient(url, chat_id, QUESTION)
            client.start()
            _wait(lambda: bool(llm.requests), 20, "the turn to reach the model")
            assert client.created is not None
            answer_id = client.created["message"]["id"]
            with server(env, second, tmp_path / "second.log"):
                sibling = f"http://127.0.0.1:{second}/chats/{chat_id}/messages/{answer_id}"
                time.sleep(1.5)  # the newcomer's start-up recovery and a few of its sweeps
                assert httpx.get(sibling).json()["status"] == "in_progress"
                client.join(timeout=30)
                assert httpx.get(sibling).json()["status"] == "completed"
    assert client.events[-1] == "message.completed"


@pytest.fixture
def outage_schema() -> Iterator[tuple[str, str]]:
    """A private PostgreSQL schema for a server process; dropped afterwards."""
    url = postgres_url()
    assert url is not None
    schema = f"qna_outage_{os.getpid()}"

    async def run(statement: str) -> None:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.execute(sql(statement))
        finally:
            await engine.dispose()

    asyncio.run(run(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    asyncio.run(run(f"CREATE SCHEMA {schema}"))
    yield url, schema
    asyncio.run(run(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))


@pytest.mark.postgres
def test_database_outage_fails_fast_and_recovers(
    tmp_path: Path, outage_schema: tuple[str, str]
) -> None:
    url, schema = outage_schema
    target = make_url(url)
    with FakeLLM() as llm, TcpProxy(target.port or 5432, target.host or "127.0.0.1") as proxy:
        env = base_env(tmp_path, llm)
        proxied = target.set(host="127.0.0.1", port=proxy.port)
        env.update(
            DATABASE_URL=proxied.render_as_string(hide_password=False), DATABASE_SCHEMA=schema
        )
        port = free_port()
        with server(env, port, tmp_path / "server.log"):
            api = f"http://127.0.0.1:{port}"
            kept = httpx.post(f"{api}/chats", json={"title": "before"}).json()["id"]

            proxy.cut()
            started = time.monotonic()
            _wait(
                lambda: httpx.get(f"{api}/health/ready", timeout=5).status_code == 503,
                10,
                "readiness to report the outage",
            )
            assert time.monotonic() - started < 10  # within one probe period
            assert httpx.get(f"{api}/health/live").status_code == 200
            began = time.monotonic()
            refused = httpx.post(f"{api}/chats", json={}, timeout=15)
            assert time.monotonic() - began < 3, "requests must fail fast"
            assert refused.status_code == 503
            assert refused.headers["retry-after"]
            assert refused.json()["code"] == "database_unavailable"

            proxy.restore()
            _wait(
                lambda: httpx.get(f"{api}/health/ready", timeout=5).status_code == 200,
                20,
                "readiness to recover",
            )
            assert httpx.get(f"{api}/chats/{kept}").json()["title"] == "before"
            assert httpx.post(f"{api}/chats", json={}).status_code == 201


def test_rate_limit_is_shared_by_two_processes_through_redis(tmp_path: Path) -> None:
    redis_url = redis_url_or_skip()
    name = f"shared-{uuid.uuid4().hex[:8]}"
    key = "qna_" + uuid.uuid4().hex + uuid.uuid4().hex
    (tmp_path / "keys").write_text(f"{name}:user:{key}\n")
    limit = 6
    with FakeLLM() as llm:
        env = base_env(tmp_path, llm)
        env.update(
            AUTH_MODE="api_key",
            API_KEYS_FILE=str(tmp_path / "keys"),
            REDIS_URL=redis_url,
            RATE_LIMIT_REQUESTS_PER_MINUTE=str(limit),
        )
        first_port, second_port = free_port(), free_port()
        with (
            server(env, first_port, tmp_path / "one.log"),
            server(env, second_port, tmp_path / "two.log"),
        ):
            # Do not straddle a minute boundary: the window would reset mid-test.
            if time.time() % 60 > 50:
                time.sleep(61 - time.time() % 60)
            headers = {"Authorization": f"Bearer {key}"}
            statuses = []
            for i in range(limit + 2):
                port = first_port if i % 2 == 0 else second_port
                response = httpx.get(f"http://127.0.0.1:{port}/chats", headers=headers)
                statuses.append(response.status_code)
            assert statuses == [200] * limit + [429, 429]
            assert int(response.headers["retry-after"]) <= 60
