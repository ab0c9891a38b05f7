"""Shared fixtures: a clean database per test (SQLite, and PostgreSQL when configured),
the app with its lifespan, an async HTTP client, and the fake LLM server. The helpers behind
them live in tests/support (PostgreSQL: see tests/support/postgres.py).

Everything under tests/e2e starts real processes, servers or a browser, so it is marked `slow`:
`make test-fast` leaves it out.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from qna_agent.config import Settings
from qna_agent.container import Services
from tests.fakes import FakeLLM
from tests.support.app import client_for, make_settings, running_app
from tests.support.postgres import (
    PG_SCHEMA,
    in_thread,
    postgres_url,
    reset_postgres,
    run_statements,
)

E2E = Path(__file__).resolve().parent / "e2e"

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every end-to-end test `slow`: they start real processes, servers or a browser."""
    for item in items:
        if item.path.is_relative_to(E2E):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _restore_root_logging() -> Iterator[None]:
    """Each app configures the root logger onto the current (captured) stderr; put it back
    after the test so later tests never write to a closed capture."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[str]:
    """A private schema for this test session, dropped at the end."""
    url = postgres_url()
    assert url is not None
    try:
        in_thread(
            run_statements(
                url, f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE", f"CREATE SCHEMA {PG_SCHEMA}"
            )
        )
    except OSError as exc:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL at TEST_DATABASE_URL is unreachable: {exc}")
        pytest.skip(f"PostgreSQL at TEST_DATABASE_URL is unreachable: {exc}")
    yield PG_SCHEMA
    in_thread(run_statements(url, f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """Which database the test runs on."""
    return str(request.param)


@pytest.fixture
async def settings_factory(
    request: pytest.FixtureRequest, backend: str, tmp_path: Path
) -> Callable[..., Settings]:
    """Build settings on this test's clean database."""
    if backend == "postgres":
        url = postgres_url()
        assert url is not None
        schema = request.getfixturevalue("postgres_schema")
        await reset_postgres(url, schema)

    def factory(**overrides: Any) -> Settings:
        return make_settings(tmp_path, backend, **overrides)

    return factory


@pytest.fixture
def settings(settings_factory: Callable[..., Settings]) -> Settings:
    """Default test settings: extractive model, bundled examples."""
    return settings_factory()


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
