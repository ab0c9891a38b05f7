"""Alembic, driven from code: `upgrade` to head and `is_at_head` for readiness."""

from __future__ import annotations

import asyncio
import functools
import weakref
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from qna_agent.db.engine import Database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any fixed number: PostgreSQL advisory locks are named by a 64-bit integer.
MIGRATION_LOCK_KEY = 0x71A_A6E7
# Alembic keeps the running migration's context in module globals (`alembic.context`, `op`):
# two upgrades interleaving on one event loop swap contexts mid-run, so one ran its DDL on the
# other's connection ("table chats already exists", KeyError 'config'). One at a time per loop.
_UPGRADE_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def alembic_config() -> Config:
    """An Alembic configuration pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@functools.cache
def _revisions() -> tuple[frozenset[str], frozenset[str]]:
    # The scripts ship with the package and never change while it runs; readiness asks every
    # few seconds, and reading them means parsing every migration file.
    script = ScriptDirectory.from_config(alembic_config())
    known = frozenset(revision.revision for revision in script.walk_revisions())
    return frozenset(script.get_heads()), known


def head_revisions() -> set[str]:
    """The revision ids at the head of the migration scripts."""
    return set(_revisions()[0])


async def upgrade(database: Database, revision: str = "head") -> None:
    """Apply migrations up to `revision` on the given database."""

    def _run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    lock = _UPGRADE_LOCKS.setdefault(asyncio.get_running_loop(), asyncio.Lock())
    async with lock, database.write_engine.begin() as conn:
        if not database.is_sqlite:
            # `serve --workers 2` (or two replicas) start together and would both create the
            # tables: the second failed with "relation alembic_version already exists" and
            # uvicorn stopped the server. Whoever comes second waits here, then finds the
            # schema at head. SQLite's writers already queue on BEGIN IMMEDIATE.
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        await conn.run_sync(_run)


async def current_revisions(database: Database) -> set[str]:
    """The revisions the database is at (empty before the first migration).

    Read straight from `alembic_version`: readiness asks every few seconds, and Alembic's own
    MigrationContext logs two lines each time it is built.
    """

    def _current(connection: Connection) -> set[str]:
        if not inspect(connection).has_table("alembic_version"):
            return set()
        rows = connection.execute(text("SELECT version_num FROM alembic_version"))
        return {str(row[0]) for row in rows}

    async with database.engine.connect() as conn:
        return await conn.run_sync(_current)


def schema_is_current(current: set[str]) -> bool:
    """Whether a database at `current` has every migration this code needs.

    A revision this code does not know was written by a newer release: during a rolling
    update its migration Job runs before the old pods stop, and migrations are additive, so
    the old pods stay ready rather than all leaving the Service at once.
    """
    if not current:
        return False
    heads, known = _revisions()
    return current == heads or not current <= known


async def is_at_head(database: Database) -> bool:
    """Whether every migration this code needs has been applied (or a newer schema is)."""
    return schema_is_current(await current_revisions(database))
