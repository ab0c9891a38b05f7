"""Settings of the agent's read-only SQL tools over an analytics database.

The URL is checked here, so a typo stops start-up with one line instead of a traceback from
the SQL tool (a scheme) or tools that fail on every call (a missing file). The schemes are
defined here, once, because this check needs them and settings import nothing of the agent;
the SQL tool reads them from here to pick its backend.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from qna_agent.config.base import SettingsGroup

# SQLAlchemy's URL forms; three slashes before a SQLite path make it relative.
SQL_TOOL_SQLITE_SCHEMES = ("sqlite", "sqlite+aiosqlite", "sqlite+pysqlite")
SQL_TOOL_POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg")


class SqlToolSettings(SettingsGroup):
    """The analytics database, and the limits of one query."""

    sql_tool_database_url: str | None = Field(
        None,
        description="Analytics database the agent may query read-only (`list_tables`, "
        "`describe_table`, `run_sql`): `sqlite:///data/shop.db` or `postgresql://user@host/db`. "
        "Separate from `DATABASE_URL`; unset disables the SQL tools. A SQLite file must exist.",
    )
    sql_tool_schema: str | None = Field(
        None, pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$", description="PostgreSQL schema to query."
    )
    sql_tool_timeout_seconds: float = Field(
        5.0,
        gt=0,
        le=300,
        description="Time limit of one SQL tool query (enforced by the database).",
    )
    sql_tool_max_rows: int = Field(200, ge=1, le=10_000, description="Most rows one query returns.")
    sql_tool_max_result_bytes: int = Field(
        20_000, ge=1000, le=1_000_000, description="Largest query result sent to the model (bytes)."
    )
    sql_tool_allow_privileged_role: bool = Field(
        False,
        description="PostgreSQL: accept a role that could write (still inside a READ ONLY "
        "transaction). By default a role with more than SELECT is refused.",
    )

    @field_validator("sql_tool_database_url")
    @classmethod
    def _sql_tool_target(cls, value: str | None) -> str | None:
        if not value:
            return None
        scheme, separator, rest = value.partition("://")
        if separator and scheme in SQL_TOOL_POSTGRES_SCHEMES:
            return value  # the server may start later: checked when the tools connect
        if separator and scheme not in SQL_TOOL_SQLITE_SCHEMES:
            raise ValueError(
                f"unsupported scheme {scheme!r}: use sqlite:///path.db or postgresql://..."
            )
        path = (rest[1:] if rest.startswith("/") else rest) if separator else value
        if not path or path == ":memory:" or "?" in path:
            raise ValueError(f"expected a SQLite file path in {value!r}")
        if not Path(path).is_file():
            raise ValueError(f"no SQLite database at {path} (the SQL tools only read)")
        return value
