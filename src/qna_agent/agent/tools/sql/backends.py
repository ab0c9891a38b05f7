"""What a database backend of the SQL tool provides, the refusals every backend shares, and
which backend a database URL names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from qna_agent.agent.tools.sql.results import ColumnInfo, ForeignKey, TableInfo
from qna_agent.config import SQL_TOOL_POSTGRES_SCHEMES, SQL_TOOL_SQLITE_SCHEMES

WRITE_REFUSED = "write operations are not allowed: the database is read-only; use SELECT only"
ONE_STATEMENT = "only one statement per call: send a single SELECT without a second statement"


def time_limit_message(seconds: float) -> str:
    return (
        f"query exceeded the {seconds:.1f} s time limit: add WHERE filters or LIMIT, "
        "avoid joins without conditions, or aggregate in smaller steps"
    )


@dataclass(frozen=True, slots=True)
class Rows:
    """Raw rows as the driver returned them; `more` is True when rows beyond the cap exist."""

    columns: list[str]
    rows: list[tuple[object, ...]]
    more: bool


@dataclass(frozen=True, slots=True)
class TableSchema:
    columns: list[ColumnInfo]
    foreign_keys: list[ForeignKey]
    sample: Rows


class SqlBackend(Protocol):
    """One analytics database. Every method raises only `SqlToolError`."""

    dialect: str
    time_limit_s: float

    async def tables(self) -> list[TableInfo]: ...

    async def describe(self, table: TableInfo, sample_rows: int) -> TableSchema: ...

    async def fetch(self, query: str, max_rows: int) -> Rows: ...

    async def aclose(self) -> None: ...


def backend_from_url(
    url: str,
    *,
    time_limit_s: float,
    schema: str | None = None,
    allow_privileged_role: bool = False,
) -> SqlBackend:
    """A backend for `sqlite:///relative.db`, `sqlite:////abs.db`, a path, or `postgresql://`.

    `schema` (the search_path) and `allow_privileged_role` apply to PostgreSQL only.
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        return _sqlite(Path(url), time_limit_s)
    if scheme in SQL_TOOL_SQLITE_SCHEMES:
        path = rest[1:] if rest.startswith("/") else rest  # SQLAlchemy: three slashes = relative
        if not path or path == ":memory:" or "?" in path:
            raise ValueError(f"expected a SQLite file path in {url!r}")
        return _sqlite(Path(path), time_limit_s)
    if scheme in SQL_TOOL_POSTGRES_SCHEMES:
        # Imported here: asyncpg costs 80 ms of every start, and most use SQLite or no tool.
        from qna_agent.agent.tools.sql.postgres import PostgresBackend

        return PostgresBackend(
            url,
            time_limit_s=time_limit_s,
            schema=schema,
            allow_privileged_role=allow_privileged_role,
        )
    raise ValueError(f"unsupported SQL tool database URL scheme {scheme!r}")


def _sqlite(path: Path, time_limit_s: float) -> SqlBackend:
    # Imported here: the backends import this module for the protocol and the refusals.
    from qna_agent.agent.tools.sql.sqlite import SqliteBackend

    return SqliteBackend(path, time_limit_s=time_limit_s)
