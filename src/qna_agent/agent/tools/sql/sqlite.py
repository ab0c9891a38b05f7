"""SQLite backend of the SQL tool: a connection that SQLite itself keeps read-only.

Four independent locks, so no single mistake opens the file to writes:

1. the file is opened with a `mode=ro` URI, so SQLite cannot write to it;
2. `PRAGMA query_only = ON` refuses every statement that would change a database;
3. an authorizer allows only reading (SELECT, reading columns, recursive CTEs, functions other
   than `load_extension` and friends, and the read-only PRAGMAs in `READ_PRAGMAS`) and denies
   everything else at prepare time: writes, CREATE/DROP/ALTER, ATTACH/DETACH (which would let
   `VACUUM INTO` write a new file), transactions and every other PRAGMA;
4. `SQLITE_LIMIT_ATTACHED = 0`, so no other database file can be attached.

A progress handler interrupts a statement after the time limit, and `SQLITE_LIMIT_LENGTH` caps
a single value, so `randomblob(1e9)` cannot take the memory. Each call opens its own connection
in a worker thread and closes it, so calls never share state.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from qna_agent.agent.tools.sql.backends import (
    ONE_STATEMENT,
    WRITE_REFUSED,
    Rows,
    TableSchema,
    time_limit_message,
)
from qna_agent.agent.tools.sql.results import ColumnInfo, ForeignKey, SqlToolError, TableInfo

T = TypeVar("T")

# Pragmas that only read the schema; their one argument is a table or index name.
READ_PRAGMAS = frozenset(
    {
        "table_info",
        "table_xinfo",
        "table_list",
        "foreign_key_list",
        "index_list",
        "index_info",
        "index_xinfo",
    }
)
# Functions that reach outside the database (the last three exist only in the sqlite3 shell).
DENIED_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer", "readfile", "writefile", "edit"})
READ_ACTIONS = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE})
SCHEMA_TABLES = frozenset({"sqlite_master", "sqlite_schema"})
MAX_VALUE_BYTES = 10_000_000
PROGRESS_EVERY = 1_000  # virtual machine steps between two looks at the clock


class ReadOnlyAuthorizer:
    """The `set_authorizer` callback: allows reading, denies the rest, remembers why."""

    def __init__(self) -> None:
        self.refusal: str | None = None

    def __call__(
        self, action: int, arg1: str | None, arg2: str | None, _db: str | None, _src: str | None
    ) -> int:
        if action in READ_ACTIONS:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_UPDATE and arg1 in SCHEMA_TABLES:
            # SQLite asks this while it declares a table-valued function (json_each,
            # pragma_table_info) on first use. A real UPDATE of the schema table never gets here:
            # SQLite refuses it as a read-only table first, and the file is opened read-only.
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION:
            if (arg2 or "").lower() not in DENIED_FUNCTIONS:
                return sqlite3.SQLITE_OK
            return self._deny(f"the function {arg2}() is not allowed")
        if action == sqlite3.SQLITE_PRAGMA:
            if (arg1 or "").lower() in READ_PRAGMAS:
                return sqlite3.SQLITE_OK
            allowed = ", ".join(sorted(READ_PRAGMAS))
            return self._deny(f"PRAGMA {arg1} is not allowed; the read-only pragmas are: {allowed}")
        if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
            return self._deny("ATTACH and DETACH are not allowed: query this database only")
        if action in (sqlite3.SQLITE_TRANSACTION, sqlite3.SQLITE_SAVEPOINT):
            return self._deny("transactions are not allowed: send one SELECT statement per call")
        return self._deny(WRITE_REFUSED)

    def _deny(self, reason: str) -> int:
        self.refusal = self.refusal or reason
        return sqlite3.SQLITE_DENY


class SqliteBackend:
    """Runs each call on a fresh read-only connection to one SQLite file, in a thread."""

    dialect = "sqlite"

    def __init__(self, path: Path, *, time_limit_s: float) -> None:
        self.path = path
        self.time_limit_s = time_limit_s
        self.uri = f"{path.resolve().as_uri()}?mode=ro"

    async def tables(self) -> list[TableInfo]:
        return await self._run(_tables)

    async def describe(self, table: TableInfo, sample_rows: int) -> TableSchema:
        return await self._run(lambda connection: _describe(connection, table, sample_rows))

    async def fetch(self, query: str, max_rows: int) -> Rows:
        return await self._run(lambda connection: _fetch(connection, query, max_rows))

    async def aclose(self) -> None:
        """Nothing to release: every call closes its own connection."""

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(self._run_blocking, work)

    def _run_blocking(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if not self.path.is_file():
            raise SqlToolError(f"the analytics database file is missing: {self.path}")
        deadline = time.monotonic() + self.time_limit_s
        authorizer = ReadOnlyAuthorizer()
        try:
            connection = sqlite3.connect(
                self.uri, uri=True, isolation_level=None, timeout=self.time_limit_s
            )
        except sqlite3.Error as error:
            raise SqlToolError(f"the analytics database cannot be opened: {error}") from error
        try:
            connection.execute("PRAGMA query_only = ON")
            connection.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
            connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
            connection.set_authorizer(authorizer)
            connection.set_progress_handler(lambda: time.monotonic() > deadline, PROGRESS_EVERY)
            return work(connection)
        except sqlite3.Error as error:
            raise self._explain(error, authorizer) from error
        finally:
            connection.close()

    def _explain(self, error: sqlite3.Error, authorizer: ReadOnlyAuthorizer) -> SqlToolError:
        text = str(error)
        if authorizer.refusal is not None:
            return SqlToolError(authorizer.refusal)
        if isinstance(error, sqlite3.ProgrammingError) and "one statement" in text:
            return SqlToolError(ONE_STATEMENT)
        if text == "interrupted":
            return SqlToolError(time_limit_message(self.time_limit_s))
        if "readonly database" in text or "may not be modified" in text:
            return SqlToolError(WRITE_REFUSED)
        if text == "string or blob too big":
            return SqlToolError(f"a value is larger than {MAX_VALUE_BYTES} bytes: select less")
        missing = re.fullmatch(r"no such table: (?:main\.)?(.+)", text)
        if missing:
            return SqlToolError(text, missing_table=missing.group(1))
        return SqlToolError(f"SQLite error: {text}")


def _tables(connection: sqlite3.Connection) -> list[TableInfo]:
    rows = connection.execute(
        "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view')"
        " AND name NOT LIKE 'sqlite!_%' ESCAPE '!' ORDER BY name"
    ).fetchall()
    return [TableInfo(name=name, kind=kind) for name, kind in rows]


def _describe(connection: sqlite3.Connection, table: TableInfo, sample_rows: int) -> TableSchema:
    columns = [
        ColumnInfo(
            name=name,
            type=declared or "ANY",
            nullable=not (not_null or key),
            primary_key=bool(key),
            default=default,
        )
        for name, declared, not_null, default, key in connection.execute(
            'SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid',
            (table.name,),
        )
    ]
    foreign_keys = [
        ForeignKey(column=column, references_table=target, references_column=target_column or "")
        for target, column, target_column in connection.execute(
            'SELECT "table", "from", "to" FROM pragma_foreign_key_list(?) ORDER BY id, seq',
            (table.name,),
        )
    ]
    quoted = '"' + table.name.replace('"', '""') + '"'
    sample = _fetch(connection, f"SELECT * FROM {quoted} LIMIT {int(sample_rows)}", sample_rows)
    return TableSchema(columns=columns, foreign_keys=foreign_keys, sample=sample)


def _fetch(connection: sqlite3.Connection, query: str, max_rows: int) -> Rows:
    cursor = connection.execute(query)
    columns = [str(entry[0]) for entry in cursor.description or ()]
    rows = [tuple(row) for row in cursor.fetchmany(max_rows + 1)]
    return Rows(columns=columns, rows=rows[:max_rows], more=len(rows) > max_rows)
