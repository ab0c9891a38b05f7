"""PostgreSQL for tests: the URL (or skip/fail as the environment demands), and this session's
private schema.

Set TEST_DATABASE_URL (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test). Without it those
tests are skipped with the reason; with REQUIRE_POSTGRES=1 (set by CI) a missing PostgreSQL fails
them instead.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

PG_SCHEMA = f"qna_test_{os.getpid()}"


def postgres_url() -> str | None:
    """The PostgreSQL URL for tests, or skip/fail as the environment demands."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        return url
    if os.environ.get("REQUIRE_POSTGRES") == "1":
        pytest.fail("REQUIRE_POSTGRES=1 but TEST_DATABASE_URL is not set")
    pytest.skip("PostgreSQL tests need TEST_DATABASE_URL (e.g. postgresql+asyncpg://...)")


def in_thread(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine to completion on a fresh loop, even from inside a running loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, coroutine).result()


async def run_statements(url: str, *statements: str) -> None:
    """Run statements in one transaction on a fresh engine."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def reset_postgres(url: str, schema: str) -> None:
    """Empty `schema` (drop and recreate it) when it holds any table."""
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
