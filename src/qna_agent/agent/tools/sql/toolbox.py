"""Read-only SQL over a configured analytics database, for the agent's data tools.

`SqlToolbox` is the core of three tools the model can call: `list_tables`, `describe_table` and
`run_sql`. The database enforces read-only access (see `sqlite` and `postgres`); the
checks here only give clearer messages earlier and cap what goes back to the model. Every
refusal or failure raises `SqlToolError` with a message written for the model to act on.

    toolbox = SqlToolbox.from_url("sqlite:///data/shop.db")
    result = await toolbox.run_sql("SELECT status, count(*) FROM orders GROUP BY status")
    text_for_model = result.render()
"""

from __future__ import annotations

import time

import structlog

from qna_agent.agent.tools.sql.backends import SqlBackend, backend_from_url
from qna_agent.agent.tools.sql.results import (
    QueryResult,
    SqlToolError,
    TableDescription,
    TableInfo,
    cap_rows,
)
from qna_agent.agent.tools.sql.statements import is_blank, single_statement

log = structlog.get_logger(__name__)


class SqlToolbox:
    """List, describe and query the tables of one read-only analytics database."""

    def __init__(
        self,
        backend: SqlBackend,
        *,
        max_rows: int = 200,
        max_result_bytes: int = 20_000,
        max_cell_chars: int = 500,
        max_query_chars: int = 10_000,
        sample_rows: int = 3,
    ) -> None:
        self.backend = backend
        self.max_rows = max_rows
        self.max_result_bytes = max_result_bytes
        self.max_cell_chars = max_cell_chars
        self.max_query_chars = max_query_chars
        self.sample_rows = sample_rows

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        time_limit_s: float = 5.0,
        schema: str | None = None,
        allow_privileged_role: bool = False,
        **caps: int,
    ) -> SqlToolbox:
        """A toolbox over `SQL_TOOL_DATABASE_URL`; `schema` and the role flag are PostgreSQL's."""
        backend = backend_from_url(
            url,
            time_limit_s=time_limit_s,
            schema=schema,
            allow_privileged_role=allow_privileged_role,
        )
        return cls(backend, **caps)

    async def aclose(self) -> None:
        await self.backend.aclose()

    async def list_tables(self) -> list[TableInfo]:
        """Every table and view the model may query, by name."""
        return await self.backend.tables()

    async def describe_table(self, name: str) -> TableDescription:
        """Columns, types, keys and a few sample rows of one table or view."""
        table = await self._find_table(name)
        schema = await self.backend.describe(table, self.sample_rows)
        rows, _ = cap_rows(
            schema.sample.rows, max_bytes=self.max_result_bytes, max_chars=self.max_cell_chars
        )
        return TableDescription(
            name=table.name,
            kind=table.kind,
            columns=schema.columns,
            foreign_keys=schema.foreign_keys,
            sample_columns=schema.sample.columns,
            sample_rows=rows,
        )

    async def run_sql(self, query: str) -> QueryResult:
        """Run one read-only statement and return its first rows, capped and JSON-safe."""
        if len(query) > self.max_query_chars:
            raise SqlToolError(
                f"the query is {len(query)} characters long; the limit is {self.max_query_chars}"
            )
        statement = single_statement(query)
        if is_blank(statement):
            raise SqlToolError("the query is empty: send one SELECT statement")
        started = time.perf_counter()
        try:
            raw = await self.backend.fetch(statement, self.max_rows)
        except SqlToolError as error:
            log.info("sql_query_refused", reason=error.message)
            if error.missing_table is not None:
                raise await self._unknown_table(error.missing_table) from error
            raise
        rows, cut = cap_rows(
            raw.rows, max_bytes=self.max_result_bytes, max_chars=self.max_cell_chars
        )
        duration_ms = round((time.perf_counter() - started) * 1000, 1)
        note = None
        if cut:
            note = (
                f"the rows shown are cut to stay under {self.max_result_bytes} bytes; select"
                " fewer columns, aggregate, or add LIMIT"
            )
        elif raw.more:
            note = (
                f"only the first {self.max_rows} rows are shown; aggregate or add ORDER BY and"
                " LIMIT to get the rows that matter"
            )
        log.info(
            "sql_query_finished",
            rows=len(rows),
            truncated=note is not None,
            duration_ms=duration_ms,
        )
        return QueryResult(
            query=statement,
            columns=raw.columns,
            rows=rows,
            truncated=note is not None,
            truncation=note,
            duration_ms=duration_ms,
        )

    async def _find_table(self, name: str) -> TableInfo:
        tables = await self.backend.tables()
        wanted = name.strip().strip('"`[]')
        for table in tables:
            if table.name == wanted:
                return table
        folded = [table for table in tables if table.name.lower() == wanted.lower()]
        if len(folded) == 1:
            return folded[0]
        raise self._no_such_table(name, tables)

    async def _unknown_table(self, name: str) -> SqlToolError:
        return self._no_such_table(name, await self.backend.tables())

    @staticmethod
    def _no_such_table(name: str, tables: list[TableInfo]) -> SqlToolError:
        names = ", ".join(table.name for table in tables) or "none"
        return SqlToolError(f"no such table: {name} (tables: {names})")
