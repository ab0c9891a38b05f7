"""Wrong API keys are limited per client address, and a repeated wrong key costs no lookup.

Clients are given their own addresses through the ASGI transport; the Redis test runs two app
instances against the machine's Redis and an IPv6 /64 of its own, so parallel runs never share
a counter.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import event

from qna_agent.config import Settings
from qna_agent.container import Services
from tests.support.app import create_key, make_settings, running_app
from tests.support.redis_server import redis_url_or_skip

PROBLEM = "application/problem+json"


def wrong_key() -> str:
    return "qna_" + secrets.token_urlsafe(32)


@asynccontextmanager
async def client_at(
    app: FastAPI, address: str, headers: dict[str, str] | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose connections come from `address`."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=headers
    ) as client:
        yield client


async def get_chats(client: httpx.AsyncClient, key: str, **headers: str) -> httpx.Response:
    return await client.get("/chats", headers={"Authorization": f"Bearer {key}", **headers})


def start_of_a_minute() -> None:
    """Failures are counted per clock minute: do not let the window end mid-test."""
    if time.time() % 60 > 55:
        time.sleep(60.5 - time.time() % 60)


@contextmanager
def key_lookups(services: Services) -> Iterator[list[str]]:
    """Every statement on the api_keys table, as any of the database's engines sends it."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "api_keys" in statement and statement.lstrip().upper().startswith("SELECT"):
            seen.append(statement)

    engines = services.database.sync_engines()
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


async def test_wrong_keys_are_limited_per_client_address(settings: Settings) -> None:
    limited = settings.model_copy(update={"rate_limit_auth_failures_per_minute": 3})
    async with running_app(limited) as (app, services):
        good = await create_key(services, "wendy")
        start_of_a_minute()
        async with (
            client_at(app, "198.51.100.7") as guesser,
            client_at(app, "198.51.100.8") as other,
        ):
            for remaining in (2, 1, 0):
                refused = await get_chats(guesser, wrong_key())
                assert refused.status_code == 401
                assert refused.headers["ratelimit-limit"] == "3"
                assert refused.headers["ratelimit-remaining"] == str(remaining)
                assert refused.headers["ratelimit-policy"] == "3;w=60"
            with key_lookups(services) as lookups:
                blocked = await get_chats(guesser, wrong_key())
                assert blocked.status_code == 429
                assert blocked.headers["content-type"].startswith(PROBLEM)
                assert blocked.json()["code"] == "rate_limited"
                assert "wrong API key" in blocked.json()["detail"]
                assert 1 <= int(blocked.headers["retry-after"]) <= 60
                assert blocked.headers["ratelimit-remaining"] == "0"
                # Until the minute ends the address gets 429, whatever it sends, unlooked-up.
                assert (await get_chats(guesser, good)).status_code == 429
                assert (await guesser.get("/chats")).status_code == 429
                assert lookups == []
            # Other addresses are not affected, and probes need no key at all.
            assert (await get_chats(other, good)).status_code == 200
            assert (await get_chats(other, wrong_key())).status_code == 401
            assert (await guesser.get("/health/live")).status_code == 200


async def test_missing_keys_and_valid_keys_are_not_failures(settings: Settings) -> None:
    limited = settings.model_copy(update={"rate_limit_auth_failures_per_minute": 2})
    async with running_app(limited) as (app, services):
        good = await create_key(services, "xavier")
        start_of_a_minute()
        async with client_at(app, "198.51.100.9") as client:
            for _ in range(4):
                missing = await client.get("/chats")
                assert missing.status_code == 401
                assert "ratelimit-limit" not in missing.headers
                assert (await get_chats(client, good)).status_code == 200
            assert (await get_chats(client, wrong_key())).status_code == 401


async def test_a_repeated_wrong_or_revoked_key_is_looked_up_once(settings: Settings) -> None:
    unlimited = settings.model_copy(update={"rate_limit_auth_failures_per_minute": 0})
    async with running_app(unlimited) as (app, services), client_at(app, "198.51.100.10") as client:
        key = wrong_key()
        with key_lookups(services) as lookups:
            for _ in range(5):
                refused = await get_chats(client, key)
                assert refused.status_code == 401
                assert refused.json()["detail"] == "invalid or revoked API key"
        assert len(lookups) == 1
        # A valid key is looked up on every request: revocation stays immediate...
        good = await create_key(services, "yvonne")
        with key_lookups(services) as lookups:
            for _ in range(3):
                assert (await get_chats(client, good)).status_code == 200
        assert len(lookups) == 3
        admin_key = await create_key(services, "zack", "admin")
        admin = {"Authorization": f"Bearer {admin_key}"}
        listed = (await client.get("/keys", headers=admin)).json()["data"]
        prefix = next(k["prefix"] for k in listed if k["name"] == "yvonne")
        assert (await client.delete(f"/keys/{prefix}", headers=admin)).status_code == 204
        # ...and once refused, a revoked key is remembered like an unknown one.
        with key_lookups(services) as lookups:
            for _ in range(3):
                assert (await get_chats(client, good)).status_code == 401
        assert len(lookups) == 1


async def test_forwarded_for_names_the_client_only_behind_trusted_proxies(
    settings: Settings,
) -> None:
    proxied = settings.model_copy(
        update={"rate_limit_auth_failures_per_minute": 2, "trusted_proxies": "10.0.0.0/8"}
    )
    async with running_app(proxied) as (app, _):
        start_of_a_minute()
        async with client_at(app, "10.1.2.3") as proxy, client_at(app, "192.0.2.50") as direct:
            # Behind the proxy: the nearest untrusted hop; what the client wrote left of it
            # (here a different forged address each time) changes nothing.
            for forged in ("192.0.2.1", "192.0.2.2"):
                chain = f"{forged}, 203.0.113.5, 10.9.9.9"
                refused = await get_chats(proxy, wrong_key(), **{"X-Forwarded-For": chain})
                assert refused.status_code == 401
            chain = "192.0.2.3, 203.0.113.5:5123, 10.9.9.9"
            blocked = await get_chats(proxy, wrong_key(), **{"X-Forwarded-For": chain})
            assert blocked.status_code == 429
            neighbour = await get_chats(proxy, wrong_key(), **{"X-Forwarded-For": "203.0.113.6"})
            assert neighbour.status_code == 401
            # From an untrusted peer the header is ignored: the peer itself is counted.
            for forged in ("203.0.113.7", "203.0.113.8"):
                spoofed = await get_chats(direct, wrong_key(), **{"X-Forwarded-For": forged})
                assert spoofed.status_code == 401
            last = await get_chats(direct, wrong_key(), **{"X-Forwarded-For": "203.0.113.9"})
            assert last.status_code == 429


async def test_the_limit_is_shared_by_two_instances_through_redis(tmp_path: Path) -> None:
    redis_url = redis_url_or_skip()
    settings = make_settings(tmp_path, redis_url=redis_url, rate_limit_auth_failures_per_minute=4)
    # One IPv6 /64 per run: its addresses share one counter, other runs never touch it.
    group = secrets.randbelow(0xFFFF)
    prefix = f"2001:db8:{secrets.randbelow(0xFFFF):x}:{group:x}"
    other_prefix = f"{prefix.rpartition(':')[0]}:{group + 1:x}"
    async with running_app(settings) as (one, services), running_app(settings) as (two, _):
        good = await create_key(services, "amber")
        start_of_a_minute()
        async with (
            client_at(one, f"{prefix}::1") as first,
            client_at(two, f"{prefix}:0:0:0:2") as second,
            client_at(two, f"{other_prefix}::1") as elsewhere,
        ):
            remaining = []
            for turn in range(4):
                refused = await get_chats(first if turn % 2 == 0 else second, wrong_key())
                assert refused.status_code == 401
                remaining.append(refused.headers["ratelimit-remaining"])
            assert remaining == ["3", "2", "1", "0"]
            # Each instance blocks the /64 once the shared count is over.
            assert (await get_chats(first, wrong_key())).status_code == 429
            assert (await get_chats(first, good)).status_code == 429
            assert (await get_chats(second, wrong_key())).status_code == 429
            assert (await get_chats(second, good)).status_code == 429
            # Another /64 is another client.
            assert (await get_chats(elsewhere, wrong_key())).status_code == 401


async def test_an_unreachable_counter_lets_requests_through(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, redis_url="redis://127.0.0.1:1/0", rate_limit_auth_failures_per_minute=1
    )
    async with running_app(settings) as (app, services), client_at(app, "198.51.100.11") as client:
        good = await create_key(services, "bruno")
        for _ in range(3):
            assert (await get_chats(client, wrong_key())).status_code == 401
        # The per-principal limit fails open too; the key still works.
        assert (await get_chats(client, good)).status_code == 200
