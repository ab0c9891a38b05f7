"""PostgreSQL backup and restore as shipped: the backup CronJob's own script (taken from
deploy/k8s/overlays/prod/backup-cronjob.yaml) dumps a whole database the app wrote through its
API, and the restore command of docs/production.md brings back every row, into a fresh
database and over the damaged original."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.app import ROOT, client_for, make_settings, new_chat, running_app
from tests.support.postgres import postgres_url

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CRONJOB = ROOT / "deploy" / "k8s" / "overlays" / "prod" / "backup-cronjob.yaml"
# The restore of docs/production.md, "PostgreSQL (prod overlay, compose)".
RESTORE = ["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction"]
DAY = 86400


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{name} (PostgreSQL client tools) is not installed")
        pytest.skip(f"{name} (PostgreSQL client tools) is not installed")
    return path


def backup_script() -> tuple[str, dict[str, str]]:
    """The CronJob's shell script and the plain values of its environment."""
    cronjob = next(d for d in yaml.safe_load_all(CRONJOB.read_text()) if d["kind"] == "CronJob")
    container = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["/bin/sh", "-c"]
    values = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    return str(container["args"][0]), values


def libpq_env(url: URL) -> dict[str, str]:
    """PG* variables for the client tools, as the CronJob sets them from its Secret."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(PGHOST=url.host or "127.0.0.1", PGPORT=str(url.port or 5432))
    env.update(PGUSER=url.username or "postgres", PGDATABASE=str(url.database))
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return env


def run(command: list[str], env: dict[str, str]) -> str:
    """A client tool or the script; its output, or the test fails with its stderr."""
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"{command[0]}: {done.stderr}"
    return done.stdout


async def snapshot(url: URL) -> dict[str, list[str]]:
    """Every row of every table of the database, as text, in a stable order."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            tables = await conn.scalars(
                text(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
                )
            )
            return {
                name: list(
                    await conn.scalars(text(f'SELECT t::text FROM public."{name}" t ORDER BY 1'))
                )
                for name in sorted(tables)
            }
    finally:
        await engine.dispose()


@pytest.fixture
async def databases() -> AsyncIterator[tuple[URL, URL]]:
    """Two scratch databases on the test server (source, restore target), dropped after."""
    server = postgres_url()
    assert server is not None
    base = make_url(server)
    suffix = uuid.uuid4().hex[:8]
    urls = [base.set(database=f"qna_backup_{suffix}"), base.set(database=f"qna_restore_{suffix}")]
    env = libpq_env(base)
    for url in urls:
        await asyncio.to_thread(run, [tool("createdb"), str(url.database)], env)
    try:
        yield urls[0], urls[1]
    finally:
        for url in urls:
            await asyncio.to_thread(run, [tool("dropdb"), "--if-exists", str(url.database)], env)


async def write_through_the_api(url: URL, tmp_path: Path) -> None:
    """Migrate, index the examples, and store chats with questions and answers."""
    settings = make_settings(tmp_path, database_url=url.render_as_string(hide_password=False))
    async with running_app(settings) as (app, _), client_for(app) as client:
        for title in ("returns", "shipping", "gift cards"):
            chat_id = await new_chat(client, title=title, metadata={"team": title})
            for question in (f"Tell me about {title}", "And how long does it take?"):
                answer = await client.post(f"/chats/{chat_id}/messages", json={"content": question})
                assert answer.status_code == 201, answer.text


def age(path: Path, seconds: float) -> Path:
    path.write_bytes(b"an older file")
    stamp = time.time() - seconds
    os.utime(path, (stamp, stamp))
    return path


async def test_the_cronjob_script_and_the_documented_restore(
    databases: tuple[URL, URL], tmp_path: Path
) -> None:
    source, fresh = databases
    await write_through_the_api(source, tmp_path)
    before = await snapshot(source)
    assert len(before["chats"]) == 3 and len(before["messages"]) == 12  # 6 questions, 6 answers
    assert before["kb_chunks"] and before["api_keys"] and before["alembic_version"]

    backups = tmp_path / "backups"
    backups.mkdir()
    expired = age(backups / "qna-20000101T000000Z.dump", 15 * DAY)  # RETENTION_DAYS is 14
    kept = age(backups / "qna-recent.dump", 13 * DAY)
    stale_partial = age(backups / "cut-short.dump.partial", 4 * 3600)
    script, values = backup_script()
    # The CronJob's own values, but this server rather than the Service `postgres`.
    env = {**values, **libpq_env(source), "BACKUP_DIR": str(backups)}
    output = await asyncio.to_thread(run, ["/bin/sh", "-c", script], env)

    dumps = sorted(backups.glob(f"{source.database}-*.dump"))
    assert len(dumps) == 1 and f"backup_written file={dumps[0]}" in output
    assert not expired.exists() and not stale_partial.exists() and kept.exists()
    assert sorted(p.name for p in backups.iterdir()) == sorted([dumps[0].name, kept.name])

    documented = " ".join([*RESTORE, '--dbname="$POSTGRES_DB"'])
    assert documented in (ROOT / "docs" / "production.md").read_text()
    # Into a fresh database: a new cluster after losing the old one.
    restore = [tool("pg_restore"), *RESTORE[1:], f"--dbname={fresh.database}", str(dumps[0])]
    await asyncio.to_thread(run, restore, libpq_env(fresh))
    assert await snapshot(fresh) == before

    # Over the original after a loss, the way the guide restores the running database.
    engine = create_async_engine(source)
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM messages"))
        await conn.execute(text("UPDATE chats SET title = 'damaged'"))
    await engine.dispose()
    restore[-2] = f"--dbname={source.database}"
    await asyncio.to_thread(run, restore, libpq_env(source))
    assert await snapshot(source) == before
