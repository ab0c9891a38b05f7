"""PostgreSQL backup and restore as the production guide prescribes: pg_dump -Fc, pg_restore
into a fresh database, and the chats come back identical."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from qna_agent.config import Settings
from tests.conftest import PG_SCHEMA, client_for, new_chat, postgres_url, running_app

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SNAPSHOT = (
    "SELECT c.id, c.title, c.metadata::text, m.id, m.role, m.content, m.status, "
    "m.citations::text FROM {schema}.chats c LEFT JOIN {schema}.messages m ON m.chat_id = c.id "
    "ORDER BY c.id, m.id"
)


async def snapshot(url: str, schema: str) -> list[tuple[object, ...]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return [tuple(row) for row in await conn.execute(text(SNAPSHOT.format(schema=schema)))]
    finally:
        await engine.dispose()


async def run(*command: str) -> None:
    """A client tool, off the event loop."""
    await asyncio.to_thread(subprocess.run, list(command), check=True)


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{name} (PostgreSQL client tools) is not installed")
        pytest.skip(f"{name} (PostgreSQL client tools) is not installed")
    return path


async def test_pg_dump_and_restore_round_trip(
    settings: Settings, backend: str, tmp_path: Path
) -> None:
    if backend != "postgres":
        pytest.skip("PostgreSQL only")
    url = postgres_url()
    assert url is not None
    dsn = make_url(url)
    connection = [
        "-h",
        dsn.host or "127.0.0.1",
        "-p",
        str(dsn.port or 5432),
        "-U",
        dsn.username or "postgres",
    ]
    async with running_app(settings) as (app, _), client_for(app) as client:
        for title in ("returns", "shipping"):
            chat_id = await new_chat(client, title=title, metadata={"team": title})
            answer = await client.post(
                f"/chats/{chat_id}/messages", json={"content": f"Tell me about {title}"}
            )
            assert answer.status_code == 201
    before = await snapshot(url, PG_SCHEMA)
    assert len(before) == 4  # two chats, a question and an answer each

    dump = tmp_path / "qna.dump"
    await run(
        tool("pg_dump"), *connection, "-Fc", "-n", PG_SCHEMA, "-f", str(dump), str(dsn.database)
    )
    restored_db = f"qna_restore_{uuid.uuid4().hex[:8]}"
    await run(tool("createdb"), *connection, restored_db)
    try:
        restored_url = str(dsn.set(database=restored_db).render_as_string(hide_password=False))
        engine = create_async_engine(restored_url)
        async with engine.begin() as conn:  # the extension lives outside the dumped schema
            await conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector SCHEMA public"))
        await engine.dispose()
        await run(tool("pg_restore"), *connection, "--exit-on-error", "-d", restored_db, str(dump))
        after = await snapshot(restored_url, PG_SCHEMA)
    finally:
        await run(tool("dropdb"), *connection, "--if-exists", restored_db)
    assert after == before
