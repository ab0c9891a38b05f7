"""Migrations started by several processes at once (`serve --workers 2`, two replicas), and
by several coroutines of one process: Alembic keeps the running migration in module globals,
so interleaved upgrades used to run DDL on each other's connection (seen in CI, under load)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from qna_agent.config import Settings
from qna_agent.db import migrate
from qna_agent.db.engine import Database


async def test_concurrent_upgrades_on_a_fresh_database_all_succeed(
    settings_factory: Callable[..., Settings],
) -> None:
    databases = [Database(settings_factory()) for _ in range(3)]
    try:
        await asyncio.gather(*(migrate.upgrade(database) for database in databases))
        for database in databases:
            assert await migrate.is_at_head(database)
    finally:
        for database in databases:
            await database.dispose()
