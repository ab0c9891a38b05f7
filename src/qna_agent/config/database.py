"""Settings of the service's own database."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from qna_agent.config.base import SettingsGroup


class DatabaseSettings(SettingsGroup):
    """The URL, pool, schema, migrations at start and SQLite durability."""

    database_url: str = Field(
        "sqlite+aiosqlite:///./data/qna.db",
        description="SQLAlchemy async URL: `sqlite+aiosqlite:///path.db` or "
        "`postgresql+asyncpg://user:pass@host:5432/db`.",
    )
    database_schema: str | None = Field(
        None, pattern=r"^[a-z_][a-z0-9_]{0,62}$", description="PostgreSQL schema (search_path)."
    )
    database_pool_size: int = Field(10, ge=1, le=200, description="PostgreSQL pool size.")
    db_auto_migrate: bool | None = Field(
        None,
        description="Apply migrations at start. Default: yes in development/test, no in "
        "production (run `qna-agent db upgrade` as its own step).",
    )
    sqlite_synchronous: Literal["FULL", "NORMAL"] = Field(
        "FULL",
        description="SQLite `PRAGMA synchronous`. `FULL` (default): a commit is on disk before "
        "it is acknowledged, even across a power loss. `NORMAL`: faster commits in WAL mode, but "
        "a power loss (not a process crash) may drop the last acknowledged ones.",
    )

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// (async drivers)"
            )
        return value

    @property
    def auto_migrate(self) -> bool:
        """Whether start-up applies migrations."""
        if self.db_auto_migrate is not None:
            return self.db_auto_migrate
        return self.environment != "production"

    @property
    def is_sqlite(self) -> bool:
        """Whether the service database is SQLite."""
        return self.database_url.startswith("sqlite")
