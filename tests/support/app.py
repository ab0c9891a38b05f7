"""The app in process for tests: settings on a fresh database, the app with its lifespan
running, API keys, HTTP clients through the ASGI transport, and readers of its answers."""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError

from qna_agent.agent.models.protocol import ChatModel
from qna_agent.config import Settings
from qna_agent.container import Services, build_services
from qna_agent.main import create_app
from qna_agent.security import keys
from tests.support.postgres import PG_SCHEMA, in_thread, postgres_url

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "knowledge"
# The API suite runs with real API keys: every client created by `client_for` sends an admin key
# of the principal "anonymous" (the owner the foundation's tests expect).
TEST_PRINCIPAL = "anonymous"
FILE_KEY = "qna_test-bootstrap-key-0123456789abcdefghijklmnop"
# Settings that shape the database or the knowledge base: with any of them (as an argument or an
# environment variable) a test gets a fresh SQLite file instead of the indexed template.
_FRESH = ("database_", "db_", "knowledge_", "kb_")
_template: Path | None = None


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
    elif not _shapes_the_data(overrides):
        _copy_indexed_template(tmp_path / "qna.db")
    values.update(overrides)
    return Settings(_env_file=None, **values)


def _shapes_the_data(overrides: dict[str, Any]) -> bool:
    names = [*overrides, *(name.lower() for name in os.environ)]
    return any(name.startswith(_FRESH) for name in names)


def _copy_indexed_template(target: Path) -> None:
    """Start from a copy of a database migrated and indexed once per session: migrating and
    indexing the examples takes ~0.3 s, most tests start an app, and the copy's sync at start
    finds nothing to do. A file already there (a second app of the same test) is kept."""
    global _template
    if target.exists():
        return
    if _template is None:
        directory = Path(tempfile.mkdtemp(prefix="qna-test-template-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        in_thread(_index_examples(directory))
        _template = directory / "qna.db"
    shutil.copyfile(_template, target)


async def _index_examples(directory: Path) -> None:
    values: dict[str, Any] = {"database_url": f"sqlite+aiosqlite:///{directory / 'qna.db'}"}
    async with running_app(make_settings(directory, **values)):
        pass


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


async def new_chat(client: httpx.AsyncClient, **body: Any) -> str:
    """Create a chat and return its id."""
    response = await client.post("/chats", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def parse_sse(body: str) -> list[dict[str, Any]]:
    """Events of an SSE body as dicts with id, event and data."""
    events = []
    for frame in body.split("\n\n"):
        if not frame.strip() or frame.startswith(":"):
            continue
        fields: dict[str, Any] = {}
        for line in frame.split("\n"):
            key, _, value = line.partition(": ")
            fields[key] = value
        fields["data"] = json.loads(fields["data"])
        events.append(fields)
    return events
