"""Shared fixtures: a clean database per test (SQLite, and PostgreSQL when configured),
the app with its lifespan, an async HTTP client, and the fake LLM server.

PostgreSQL: set TEST_DATABASE_URL (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test).
Without it those tests are skipped with the reason; with REQUIRE_POSTGRES=1 (set by CI) a
missing PostgreSQL fails them instead.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from qna_agent.agent.model import ChatModel
from qna_agent.config import Settings
from qna_agent.container import Services, build_services
from qna_agent.main import create_app
from tests.fake_llm import FakeLLM

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "knowledge"
PG_SCHEMA = f"qna_test_{os.getpid()}"
_TABLES = ("messages", "chats", "kb_chunks", "kb_documents", "alembic_version")

# Settings come from the tests alone, never from a developer's environment or .env file.
for _name in list(os.environ):
    if _name.startswith(
        ("LLM_", "OPENAI_", "DATABASE_", "KB_", "AGENT_", "SQL_TOOL_", "STREAM_")
    ) or _name in {
        "KNOWLEDGE_DIR",
        "SECRETS_DIR",
        "ENVIRONMENT",
        "PORT",
        "HOST",
    }:
        del os.environ[_name]


def postgres_url() -> str | None:
    """The PostgreSQL URL for tests, or skip/fail as the environment demands."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    if os.environ.get("REQUIRE_POSTGRES") == "1":
        pytest.fail("REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set")
    pytest.skip("PostgreSQL tests need TEST_DATABASE_URL (e.g. postgresql+asyncpg://...)")


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[str]:
    """A private schema for this test session, dropped at the end."""
    url = postgres_url()
    assert url is not None

    async def run(*statements: str) -> None:
        engine = create_async_engine(url)
        try:
            async with engine.begin() as conn:
                for statement in statements:
                    await conn.execute(text(statement))
        finally:
            await engine.dispose()

    try:
        _in_thread(run(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE", f"CREATE SCHEMA {PG_SCHEMA}"))
    except OSError as exc:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL at TEST_DATABASE_URL is unreachable: {exc}")
        pytest.skip(f"PostgreSQL at TEST_DATABASE_URL is unreachable: {exc}")
    yield PG_SCHEMA
    _in_thread(run(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))


def _in_thread(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine to completion on a fresh loop, even from inside a running loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()


async def _reset_postgres(url: str, schema: str) -> None:
    engine = create_async_engine(
        url, connect_args={"server_settings": {"search_path": f"{schema}, public"}}
    )
    try:
        async with engine.begin() as conn:
            exists = await conn.scalar(
                text("SELECT count(*) FROM information_schema.tables WHERE table_schema = :s"),
                {"s": schema},
            )
            if exists:
                await conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
                await conn.execute(text(f"CREATE SCHEMA {schema}"))
    finally:
        await engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """Which database the test runs on."""
    return str(request.param)


def make_settings(tmp_path: Path, backend: str = "sqlite", **overrides: Any) -> Settings:
    """Settings for a test, on a fresh database."""
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'qna.db'}",
        "knowledge_dir": EXAMPLES,
        "log_format": "console",
        "llm_provider": "extractive",
    }
    if backend == "postgres":
        values["database_url"] = postgres_url()
        values["database_schema"] = PG_SCHEMA
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
async def settings_factory(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> Callable[..., Settings]:
    """Build settings on this test's clean database."""
    if backend == "postgres":
        url = postgres_url()
        assert url is not None
        schema = request.getfixturevalue("postgres_schema")
        await _reset_postgres(url, schema)

    def factory(**overrides: Any) -> Settings:
        return make_settings(tmp_path, backend, **overrides)

    return factory


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    """Default test settings: extractive model, bundled examples."""
    return settings_factory()


@asynccontextmanager
async def running_app(
    settings: Settings, *, model: ChatModel | None = None
) -> AsyncIterator[tuple[FastAPI, Services]]:
    """The app with its lifespan running and the knowledge base indexed."""
    services = build_services(settings, model=model)
    app = create_app(services=services)
    async with app.router.lifespan_context(app):
        # The first test of a run embeds every example passage (later ones reuse the vectors);
        # on a busy 2-core machine that can take a while.
        for _ in range(9000):
            if services.knowledge.loaded:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the knowledge base was not indexed within 90 s")
        yield app, services


@asynccontextmanager
async def client_for(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client calling the app in-process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
async def app_services(settings: Settings) -> AsyncIterator[tuple[FastAPI, Services]]:
    """The default app (extractive model) and its services."""
    async with running_app(settings) as pair:
        yield pair


@pytest.fixture
async def client(app_services: tuple[FastAPI, Services]) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the default app."""
    async with client_for(app_services[0]) as http:
        yield http


@pytest.fixture
def fake_llm() -> Iterator[FakeLLM]:
    """A running fake OpenAI-compatible server."""
    with FakeLLM() as llm:
        yield llm


async def new_chat(client: httpx.AsyncClient, **body: Any) -> str:
    """Create a chat and return its id."""
    response = await client.post("/chats", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])
