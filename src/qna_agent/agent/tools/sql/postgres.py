"""PostgreSQL backend of the SQL tool: every call is one `BEGIN READ ONLY` transaction.

The transaction refuses writes, `SET LOCAL statement_timeout` stops runaway queries on the
server, and the query is sent as a prepared statement, which PostgreSQL refuses to hold more
than one statement. Connections come from a pool made on first use; asyncpg resets a connection
(`RESET ALL`, advisory locks, cursors) when the pool takes it back.

A read-only transaction does not stop a superuser from `COPY ... TO PROGRAM` or from reading
server files, and it is the only thing between a role that may write and the data. So before
the first query the backend lists what the role can do beyond SELECT, and refuses it unless
`allow_privileged_role=True`: superuser, CREATEROLE or CREATEDB; membership of the server file
and program roles; CREATE on the database; and, in every schema it may use, CREATE or ownership
of the schema, ownership of a table, view or sequence, INSERT, UPDATE, DELETE, TRUNCATE,
REFERENCES or TRIGGER on a table (column grants included), USAGE or UPDATE on a sequence.
Connect as a role that may only read, for example:

    CREATE ROLE qna_sql_reader LOGIN PASSWORD '...' NOSUPERUSER NOCREATEDB NOCREATEROLE;
    ALTER ROLE qna_sql_reader SET default_transaction_read_only = on;
    GRANT CONNECT ON DATABASE analytics TO qna_sql_reader;
    GRANT USAGE ON SCHEMA shop TO qna_sql_reader;
    GRANT SELECT ON ALL TABLES IN SCHEMA shop TO qna_sql_reader;
    ALTER DEFAULT PRIVILEGES IN SCHEMA shop GRANT SELECT ON TABLES TO qna_sql_reader;
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import structlog

from qna_agent.agent.tools.sql.backends import (
    ONE_STATEMENT,
    WRITE_REFUSED,
    Rows,
    TableSchema,
    time_limit_message,
)
from qna_agent.agent.tools.sql.results import ColumnInfo, ForeignKey, SqlToolError, TableInfo

log = structlog.get_logger(__name__)

KINDS = {"r": "table", "p": "table", "f": "table", "v": "view", "m": "view"}
TABLES_SQL = """
SELECT c.relname, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'f', 'v', 'm')
  AND has_table_privilege(c.oid, 'SELECT') ORDER BY c.relname"""
COLUMNS_SQL = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
       pg_get_expr(d.adbin, d.adrelid),
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary
               AND a.attnum = ANY (i.indkey))
FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"""
FOREIGN_KEYS_SQL = """
SELECT a.attname, target.relname, ta.attname
FROM pg_constraint con CROSS JOIN LATERAL unnest(con.conkey, con.confkey) AS k(col, ref)
JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.col
JOIN pg_class target ON target.oid = con.confrelid
JOIN pg_attribute ta ON ta.attrelid = con.confrelid AND ta.attnum = k.ref
WHERE con.conrelid = $1::regclass AND con.contype = 'f' ORDER BY con.conname, a.attnum"""
# What the role can do beyond SELECT, one line each. "Visible" schemas are those it may use
# (USAGE), not only the search_path: a query can name any of them. Ownership is checked with
# MEMBER, not USAGE, because a member can `SET ROLE` to the owner even without inheriting.
PRIVILEGES_SQL = """
WITH visible AS (
    SELECT oid, nspname, nspowner FROM pg_namespace
    WHERE nspname <> 'information_schema' AND nspname !~ '^pg_'
      AND has_schema_privilege(oid, 'USAGE')
), relations AS (
    SELECT c.oid, c.relkind, c.relowner,
           quote_ident(v.nspname) || '.' || quote_ident(c.relname) AS name
    FROM pg_class c JOIN visible v ON v.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S')
)
SELECT a.attribute FROM pg_roles r CROSS JOIN LATERAL (VALUES
    ('SUPERUSER', r.rolsuper), ('CREATEROLE', r.rolcreaterole), ('CREATEDB', r.rolcreatedb)
) AS a(attribute, held) WHERE r.rolname = current_user AND a.held
UNION ALL
SELECT 'member of ' || m FROM unnest(ARRAY['pg_execute_server_program',
    'pg_write_server_files', 'pg_read_server_files']) AS m
WHERE pg_has_role(current_user, m, 'MEMBER')
UNION ALL
SELECT 'CREATE on database ' || quote_ident(current_database())
WHERE has_database_privilege(current_database(), 'CREATE')
UNION ALL
SELECT 'CREATE on schema ' || quote_ident(nspname) FROM visible
WHERE has_schema_privilege(oid, 'CREATE')
UNION ALL
SELECT 'owner of schema ' || quote_ident(nspname) FROM visible
WHERE pg_has_role(nspowner, 'MEMBER')
UNION ALL
SELECT 'owner of ' || name FROM relations WHERE pg_has_role(relowner, 'MEMBER')
UNION ALL
SELECT p || ' on ' || name FROM relations
CROSS JOIN unnest(ARRAY['INSERT', 'UPDATE', 'REFERENCES']) AS p
WHERE relkind <> 'S' AND has_any_column_privilege(oid, p)
UNION ALL
SELECT p || ' on ' || name FROM relations
CROSS JOIN unnest(ARRAY['DELETE', 'TRUNCATE', 'TRIGGER']) AS p
WHERE relkind <> 'S' AND has_table_privilege(oid, p)
UNION ALL
SELECT p || ' on sequence ' || name FROM relations CROSS JOIN unnest(ARRAY['USAGE', 'UPDATE']) AS p
WHERE relkind = 'S' AND has_sequence_privilege(oid, p)
LIMIT 50"""
SHOWN_PRIVILEGES = 5


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class PostgresBackend:
    """Runs each call in its own read-only transaction on a pooled asyncpg connection."""

    dialect = "postgresql"

    def __init__(
        self,
        dsn: str,
        *,
        time_limit_s: float,
        schema: str | None = None,
        pool_size: int = 4,
        allow_privileged_role: bool = False,
    ) -> None:
        self.dsn = dsn.replace("postgresql+asyncpg://", "postgresql://", 1)
        self.time_limit_s = time_limit_s
        self.schema = schema
        self.pool_size = pool_size
        self.allow_privileged_role = allow_privileged_role
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()

    async def tables(self) -> list[TableInfo]:
        async with self._transaction() as connection:
            rows = await connection.fetch(TABLES_SQL)
        return [TableInfo(name=row[0], kind=KINDS[row[1]]) for row in rows]

    async def describe(self, table: TableInfo, sample_rows: int) -> TableSchema:
        qualified = quote_ident(table.name)
        if self.schema:
            qualified = f"{quote_ident(self.schema)}.{qualified}"
        async with self._transaction() as connection:
            columns = await connection.fetch(COLUMNS_SQL, qualified)
            keys = await connection.fetch(FOREIGN_KEYS_SQL, qualified)
            query = f"SELECT * FROM {qualified} LIMIT {int(sample_rows)}"
            sample = await _fetch(connection, query, sample_rows)
        return TableSchema(
            columns=[
                ColumnInfo(name=r[0], type=r[1], nullable=r[2], primary_key=r[4], default=r[3])
                for r in columns
            ],
            foreign_keys=[
                ForeignKey(column=r[0], references_table=r[1], references_column=r[2]) for r in keys
            ],
            sample=sample,
        )

    async def fetch(self, query: str, max_rows: int) -> Rows:
        async with self._transaction() as connection:
            return await _fetch(connection, query, max_rows)

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Any]:
        """A pooled connection inside `BEGIN READ ONLY` with server-side time limits."""
        limit_ms = max(1, int(self.time_limit_s * 1000))
        try:
            # The client-side deadline only matters when the server stops answering.
            async with asyncio.timeout(self.time_limit_s + 2.0):
                pool = await self._get_pool()
                async with pool.acquire() as connection, connection.transaction(readonly=True):
                    # The closing SELECT takes the snapshot, after which PostgreSQL refuses
                    # `SET transaction_read_only = off` for the rest of the transaction.
                    await connection.execute(
                        f"SET LOCAL statement_timeout = {limit_ms};"
                        f" SET LOCAL idle_in_transaction_session_timeout = {limit_ms + 2000};"
                        " SELECT 1"
                    )
                    yield connection
        except TimeoutError as error:
            raise SqlToolError(time_limit_message(self.time_limit_s)) from error
        except asyncpg.PostgresError as error:
            raise self._explain(error) from error
        except (OSError, asyncpg.InterfaceError) as error:
            raise SqlToolError(f"the analytics database is unavailable: {error}") from error

    async def _get_pool(self) -> asyncpg.Pool:
        async with self._pool_lock:
            if self._pool is None:
                settings = {
                    "application_name": "qna-agent-sql-tool",
                    "default_transaction_read_only": "on",
                }
                if self.schema:
                    settings["search_path"] = quote_ident(self.schema)
                pool = await asyncpg.create_pool(
                    self.dsn, min_size=0, max_size=self.pool_size, server_settings=settings
                )
                try:
                    await self._check_role(pool)
                except BaseException:
                    await pool.close()
                    raise
                self._pool = pool
            return self._pool

    async def _check_role(self, pool: asyncpg.Pool) -> None:
        """Refuse a role that can do more than SELECT, naming what it can do."""
        extra = [row[0] for row in await pool.fetch(PRIVILEGES_SQL)]
        if not extra:
            return
        if not self.allow_privileged_role:
            log.error("sql_tool_role_refused", privileges=extra)
            shown = ", ".join(extra[:SHOWN_PRIVILEGES])
            more = ", ..." if len(extra) > SHOWN_PRIVILEGES else ""
            raise SqlToolError(
                f"the SQL tool refuses to connect as a role that can do more than SELECT"
                f" ({shown}{more}); the operator must configure a SELECT-only role"
                " or set SQL_TOOL_ALLOW_PRIVILEGED_ROLE=true"
            )
        log.warning(
            "sql_tool_privileged_role", privileges=extra, hint="connect as a SELECT-only role"
        )

    def _explain(self, error: asyncpg.PostgresError) -> SqlToolError:
        text = str(error)
        read_only = (
            asyncpg.exceptions.ReadOnlySQLTransactionError,
            asyncpg.exceptions.ActiveSQLTransactionError,  # SET TRANSACTION READ WRITE
        )
        if isinstance(error, read_only):
            return SqlToolError(WRITE_REFUSED)
        if isinstance(error, asyncpg.exceptions.QueryCanceledError):
            return SqlToolError(time_limit_message(self.time_limit_s))
        if "multiple commands" in text:
            return SqlToolError(ONE_STATEMENT)
        if isinstance(error, asyncpg.exceptions.InsufficientPrivilegeError):
            return SqlToolError(f"permission denied ({text}): query only the listed tables")
        missing = re.fullmatch(r'relation "(.+)" does not exist', text)
        if missing:
            return SqlToolError(text, missing_table=missing.group(1))
        return SqlToolError(f"PostgreSQL error: {text}")


async def _fetch(connection: Any, query: str, max_rows: int) -> Rows:
    statement = await connection.prepare(query)
    columns = [attribute.name for attribute in statement.get_attributes()]
    cursor = await statement.cursor()
    rows = [tuple(row) for row in await cursor.fetch(max_rows + 1)]
    return Rows(columns=columns, rows=rows[:max_rows], more=len(rows) > max_rows)
