"""Measure the per-request cost of authentication: the uncached key lookup, and a whole
authenticated `GET /chats` against an unauthenticated probe, on SQLite and PostgreSQL.

    python bench/bench_auth.py                           # SQLite in a temp dir
    python bench/bench_auth.py --database-url postgresql+asyncpg://postgres@127.0.0.1/test
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from qna_agent.config import Settings
from qna_agent.container import build_services
from qna_agent.db import migrate
from qna_agent.main import create_app
from qna_agent.security import keys


async def timed(work: Callable[[], Awaitable[object]], rounds: int) -> dict[str, float]:
    """p50/p99 in microseconds of `rounds` sequential calls, after a warm-up."""
    for _ in range(20):
        await work()
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        await work()
        samples.append((time.perf_counter() - started) * 1e6)
    samples.sort()
    return {
        "p50_us": round(statistics.median(samples), 1),
        "p99_us": round(samples[int(len(samples) * 0.99) - 1], 1),
    }


async def main(database_url: str | None, schema: str | None, rounds: int, extra_keys: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "empty-kb").mkdir()
        settings = Settings(
            _env_file=None,
            environment="test",
            database_url=database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}",
            database_schema=schema,
            knowledge_dir=Path(tmp) / "empty-kb",
            rate_limit_requests_per_minute=0,
            log_level="WARNING",
        )
        services = build_services(settings)
        await migrate.upgrade(services.database)
        async with services.database.write_sessions.begin() as session:
            for i in range(extra_keys):
                await keys.create_key(session, name=f"user{i}", role="user")
            key = (await keys.create_key(session, name="bench", role="user")).key
        store = services.security.keys
        lookup = await timed(lambda: store.authenticate(key), rounds)
        miss = await timed(lambda: store.authenticate("qna_" + "x" * 43), rounds)
        app = create_app(services=services)
        transport = httpx.ASGITransport(app=app)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://bench") as client,
        ):
            headers = {"Authorization": f"Bearer {key}"}
            probe = await timed(lambda: client.get("/health/live"), rounds)
            chats = await timed(lambda: client.get("/chats", headers=headers), rounds)
        print(f"database: {services.database.engine.dialect.name}, keys stored: {extra_keys + 1}")
        print(f"key lookup (hit):   {lookup}")
        print(f"key lookup (miss):  {miss}")
        print(f"GET /health/live:   {probe}  (no auth, no database)")
        print(f"GET /chats:         {chats}  (auth + rate limit + one query)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url")
    parser.add_argument("--schema", help="PostgreSQL schema (must exist)")
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--keys", type=int, default=1000, help="other keys in the table")
    args = parser.parse_args()
    asyncio.run(main(args.database_url, args.schema, args.rounds, args.keys))
