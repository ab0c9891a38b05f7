"""Liveness, readiness and the probe aliases."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx

from qna_agent.config import Settings
from qna_agent.container import build_services
from qna_agent.main import create_app
from tests.support.app import client_for, make_settings


async def test_live_and_ready(client: httpx.AsyncClient) -> None:
    live = await client.get("/health/live")
    assert live.status_code == 200
    assert live.json()["status"] == "ok"
    ready = await client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"]["ok"] is True
    assert ready.json()["checks"]["knowledge_base"]["ok"] is True


async def test_probe_aliases_answer_but_stay_out_of_the_schema(client: httpx.AsyncClient) -> None:
    for path in ("/health", "/healthz/live", "/healthz/ready", "/ready", "/readiness"):
        assert (await client.get(path)).status_code == 200, path
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "/health/live" in paths and "/health/ready" in paths
    assert "/ready" not in paths and "/healthz/live" not in paths


async def test_not_ready_until_migrated(settings_factory: Callable[..., Settings]) -> None:
    unmigrated = settings_factory(db_auto_migrate=False)
    # Without migrations the knowledge base cannot load, so enter the lifespan by hand.
    services = build_services(unmigrated)
    app = create_app(services=services)
    async with app.router.lifespan_context(app), client_for(app) as client:
        await asyncio.sleep(0.05)
        live = await client.get("/health/live")
        assert live.status_code == 200
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        body = ready.json()
        assert body["status"] == "unavailable"
        assert "db upgrade" in body["checks"]["database"]["detail"]
        assert body["checks"]["knowledge_base"]["ok"] is False


async def test_not_ready_when_database_is_unreachable(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none",
        db_auto_migrate=False,
    )
    app = create_app(services=build_services(settings))
    async with app.router.lifespan_context(app), client_for(app) as client:
        assert (await client.get("/health/live")).status_code == 200
        ready = await client.get("/health/ready")
        assert ready.status_code == 503
        assert "unreachable" in ready.json()["checks"]["database"]["detail"]
        chats = await client.get("/chats")
        assert chats.status_code == 503
        assert chats.headers["content-type"].startswith("application/problem+json")
        assert chats.headers["retry-after"] == "5"


def test_a_newer_schema_keeps_old_pods_ready() -> None:
    from qna_agent.db.migrate import head_revisions, schema_is_current

    assert schema_is_current(head_revisions())
    assert not schema_is_current(set())
    assert not schema_is_current({"0001"})  # behind: migrations still to run
    assert schema_is_current({"9999_from_a_newer_release"})  # ahead: a rolling update
