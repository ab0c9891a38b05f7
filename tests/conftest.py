"""Shared fixtures: a clean database per test (SQLite, and PostgreSQL when configured),
the app with its lifespan, an async HTTP client, and the fake LLM server.

PostgreSQL: set TEST_DATABASE_URL (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test).
Without it those tests are skipped with the reason; with REQUIRE_POSTGRES=1 (set by CI) a
missing PostgreSQL fails them instead.
"""

from __future__ import annotations

import asyncio
import logging
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
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

from qna_agent.agent.models.protocol import ChatModel
from qna_agent.config import Settings
from qna_agent.container import Services, build_services
from qna_agent.main import create_app
from qna_agent.security import keys
from tests.fake_llm import FakeLLM

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples" / "knowledge"
PG_SCHEMA = f"qna_test_{os.getpid()}"
_TABLES = ("messages", "chats", "kb_chunks", "kb_documents", "alembic_version")
# The API suite runs with real API keys: every client created by `client_for` sends an admin key
# of the principal "anonymous" (the owner the foundation's tests expect).
TEST_PRINCIPAL = "anonymous"
FILE_KEY = "qna_test-bootstrap-key-0123456789abcdefghijklmnop"

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
# Likewise the security area's settings.
_SECURITY_ENV = {"AUTH_MODE", "API_KEYS_FILE", "REDIS_URL", "CORS_ORIGINS", "TRUSTED_PROXIES"}
for _name in list(os.environ):
    if _name in _SECURITY_ENV or _name.startswith(("RATE_LIMIT_", "GATEWAY_", "METRICS_")):
        del os.environ[_name]


@pytest.fixture(autouse=True)
def _restore_root_logging() -> Iterator[None]:
    """Each app configures the root logger onto the current (captured) stderr; put it back
    after the test so later tests never write to a closed capture."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def postgres_url() -> str | None:
    """The PostgreSQL URL for tests, or skip/fail as the environment demands."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    if os.environ.get("REQUIRE_POSTGRES") == "1":
        pytest.fail("REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set")
    pytest.skip("PostgreSQL tests need TEST_DATABASE_URL (e.g. postgresql+asyncpg://...)")


def redis_url() -> str:
    """The Redis URL for tests (a database they may empty), or skip/fail as the environment
    demands (REQUIRE_REDIS=1 in CI)."""
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception as exc:
        if os.environ.get("REQUIRE_REDIS") == "1":
            pytest.fail(f"REQUIRE_REDIS=1 but Redis at {url} is unreachable: {exc}")
        pytest.skip(f"needs Redis at {url} (TEST_REDIS_URL): {exc}")
    return url


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


def _key_file(tmp_path: Path) -> Path:
    path = tmp_path / "api-keys"
    path.write_text(f"# name:role:key\n{TEST_PRINCIPAL}:admin:{FILE_KEY}\n")
    return path


def make_settings(tmp_path: Path, backend: str = "sqlite", **overrides: Any) -> Settings:
    """Settings for a test, on a fresh database."""
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'qna.db'}",
        "knowledge_dir": EXAMPLES,
        "log_format": "console",
        "llm_provider": "extractive",
        "api_keys_file": _key_file(tmp_path),
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


async def create_key(services: Services, name: str, role: str = "user") -> str:
    """A new API key stored in the service's database."""
    async with services.database.write_sessions.begin() as session:
        return (await keys.create_key(session, name=name, role=role)).key


async def _admin_key(app: FastAPI) -> str:
    """An admin key from the database, or the bootstrap file's when there is no usable database."""
    try:
        return await create_key(app.state.services, TEST_PRINCIPAL, "admin")
    except (OSError, SQLAlchemyError):
        return FILE_KEY


@asynccontextmanager
async def client_for(app: FastAPI, *, key: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client calling the app in-process, sending `key` (default: a new admin key)."""
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {key or await _admin_key(app)}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=headers
    ) as client:
        yield client


@asynccontextmanager
async def anonymous_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client calling the app in-process with no credentials."""
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
