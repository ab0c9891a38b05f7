"""The agent's data tools over `SqlToolbox`: `list_tables`, `describe_table` and `run_sql`.

Refusals and query errors become `ToolError`s, so the model reads what went wrong and can fix
its query. A `run_sql` result is cited like a document: its `[ref]` names the query and the row
count, so the answer shows where a number came from.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from qna_agent.agent.tools.registry import ToolContext, ToolError, ToolFunction, ToolOutput
from qna_agent.agent.tools.sql.results import QueryResult, SqlToolError, markdown_table
from qna_agent.agent.tools.sql.toolbox import SqlToolbox
from qna_agent.agent.types import Citation

SQL_SOURCE = "sql"
SNIPPET_ROWS = 5
SNIPPET_CHARS = 500
MAX_QUERY_CHARS = 10_000  # the toolbox has its own, possibly lower, limit


def sql_citation(result: QueryResult) -> Citation:
    """A citation for a query result: the query, the row count and the first rows."""
    snippet = markdown_table(result.columns, result.rows[:SNIPPET_ROWS]) if result.columns else ""
    if len(snippet) > SNIPPET_CHARS:
        snippet = snippet[: SNIPPET_CHARS - 1] + "…"
    rows = f"{result.row_count} row{'' if result.row_count == 1 else 's'}"
    return Citation(
        ref=0,
        source=SQL_SOURCE,
        title=f"SQL query ({rows}{', truncated' if result.truncated else ''})",
        heading=result.query,
        snippet=snippet,
        score=1.0,
        kind="sql",
        query=result.query,
        row_count=result.row_count,
    )


def sql_tools(toolbox: SqlToolbox) -> list[ToolFunction]:
    """The three data tools bound to one toolbox."""

    async def list_tables() -> ToolOutput:
        """List the tables and views of the analytics database."""
        try:
            tables = await toolbox.list_tables()
        except SqlToolError as error:
            raise ToolError(error.message) from None
        lines = [f"{table.kind} {table.name}" for table in tables] or ["(no tables)"]
        return ToolOutput("\n".join(lines), f"{len(tables)} tables")

    async def describe_table(
        name: Annotated[
            str, Field(min_length=1, max_length=200, description="Table or view name.")
        ],
    ) -> ToolOutput:
        """Show a table's columns, types, primary and foreign keys and a few sample rows."""
        try:
            description = await toolbox.describe_table(name)
        except SqlToolError as error:
            raise ToolError(error.message) from None
        summary = f"{description.name}: {len(description.columns)} columns"
        return ToolOutput(description.render(), summary)

    async def run_sql(
        context: ToolContext,
        query: Annotated[
            str,
            Field(min_length=1, max_length=MAX_QUERY_CHARS, description="One SELECT statement."),
        ],
    ) -> ToolOutput:
        """Run one read-only SQL query (a single SELECT) on the analytics database.

        The result has a `ref` number: cite it in the answer as [ref].
        """
        try:
            result = await toolbox.run_sql(query)
        except SqlToolError as error:
            raise ToolError(error.message) from None
        ref = context.cite(sql_citation(result))
        return ToolOutput(f"ref: {ref}\n{result.render()}", result.summary())

    run_sql.__doc__ = (
        f"Run one read-only {toolbox.backend.dialect} query (a single SELECT) on the analytics "
        f"database; at most {toolbox.max_rows} rows come back.\n\n"
        "The result has a `ref` number: cite it in the answer as [ref]."
    )
    return [list_tables, describe_table, run_sql]
