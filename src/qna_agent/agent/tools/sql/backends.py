"""What a database backend of the SQL tool provides, and the refusals every backend shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from qna_agent.agent.tools.sql.results import ColumnInfo, ForeignKey, TableInfo

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
