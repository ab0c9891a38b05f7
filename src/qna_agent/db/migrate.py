"""Alembic, driven from code: `upgrade` to head and `is_at_head` for readiness."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection

from qna_agent.db.engine import Database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any fixed number: PostgreSQL advisory locks are named by a 64-bit integer.
MIGRATION_LOCK_KEY = 0x71A_A6E7


def alembic_config() -> Config:
    """An Alembic configuration pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revisions() -> set[str]:
    """The revision ids at the head of the migration scripts."""
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


async def upgrade(database: Database, revision: str = "head") -> None:
    """Apply migrations up to `revision` on the given database."""

    def _run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    async with database.write_engine.begin() as conn:
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
    """The revisions the database is at (empty before the first migration)."""

    def _current(connection: Connection) -> set[str]:
        return set(MigrationContext.configure(connection).get_current_heads())

    async with database.engine.connect() as conn:
        return await conn.run_sync(_current)


async def is_at_head(database: Database) -> bool:
    """Whether every migration has been applied."""
    return await current_revisions(database) == head_revisions()
