"""The read-only SQL tool on PostgreSQL: the shop loaded into a fresh schema of TEST_DATABASE_URL.

Every test runs twice: as a SELECT-only role (the documented setup) and as the server's
superuser with `allow_privileged_role=True`, which proves the READ ONLY transaction refuses
writes by itself. Skipped without TEST_DATABASE_URL; fails instead when REQUIRE_POSTGRES=1.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
import pytest_asyncio

from qna_agent.agent.tools.sql.backends import ONE_STATEMENT, WRITE_REFUSED
from qna_agent.agent.tools.sql.results import SqlToolError
from qna_agent.agent.tools.sql.toolbox import SqlToolbox
from tests.support.shop import RETURNED_LAST_MONTH, SHOP_TODAY, load_shop_builder
from tests.support.sql_postgres import ADMIN_URL, admin, with_user

pytestmark = pytest.mark.postgres

TABLES = ("customers", "order_items", "orders", "products", "returns")


async def fingerprint(schema: str) -> dict[str, str]:
    """An md5 of every table's rows in id order, read as the administrator."""
    connection = await asyncpg.connect(ADMIN_URL)
    try:
        names = await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1", schema
        )
        digest = "SELECT count(*) || ' ' || md5(string_agg(t::text, ',' ORDER BY t.id))"
        return {
            row[0]: await connection.fetchval(f'{digest} FROM "{schema}"."{row[0]}" t')
            for row in names
        }
    finally:
        await connection.close()


@pytest.fixture(scope="module")
def shop_schema() -> Iterator[tuple[str, str]]:
    """A fresh schema with the shop, and a login role that may only read it."""
    suffix = secrets.token_hex(4)
    schema, role, password = f"sql_tool_{suffix}", f"sql_tool_reader_{suffix}", secrets.token_hex(8)
    asyncio.run(load_shop_builder().load_postgres(ADMIN_URL, schema, today=SHOP_TODAY))
    asyncio.run(
        admin(
            f"CREATE ROLE {role} LOGIN PASSWORD '{password}' NOSUPERUSER NOCREATEDB NOCREATEROLE",
            f"GRANT USAGE ON SCHEMA {schema} TO {role}",
            f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}",
        )
    )
    try:
        yield schema, with_user(ADMIN_URL, role, password)
    finally:
        asyncio.run(
            admin(
                f"DROP SCHEMA {schema} CASCADE",
                f"DROP OWNED BY {role}",
                f"DROP ROLE {role}",
            )
        )


@pytest.fixture(scope="module")
def pristine(shop_schema: tuple[str, str]) -> dict[str, str]:
    return asyncio.run(fingerprint(shop_schema[0]))


@pytest_asyncio.fixture(params=["reader", "superuser"])
async def toolbox(
    request: pytest.FixtureRequest, shop_schema: tuple[str, str]
) -> AsyncIterator[SqlToolbox]:
    schema, reader_url = shop_schema
    superuser = request.param == "superuser"
    box = SqlToolbox.from_url(
        ADMIN_URL if superuser else reader_url,
        time_limit_s=0.5,
        schema=schema,
        allow_privileged_role=superuser,
        max_rows=50,
    )
    yield box
    await box.aclose()


async def test_list_and_describe(toolbox: SqlToolbox) -> None:
    assert [table.name for table in await toolbox.list_tables()] == list(TABLES)
    orders = await toolbox.describe_table("orders")
    assert orders.primary_key == ["id"]
    assert [(k.column, k.references_table, k.references_column) for k in orders.foreign_keys] == [
        ("customer_id", "customers", "id")
    ]
    assert len(orders.sample_rows) == 3
    placed_at = orders.sample_columns.index("placed_at")
    assert isinstance(orders.sample_rows[0][placed_at], str)  # an ISO 8601 string


REFUSALS = [
    ("DROP TABLE orders", WRITE_REFUSED),
    ("INSERT INTO orders (id) VALUES (99999)", WRITE_REFUSED),
    ("UPDATE orders SET total_cents = 0", WRITE_REFUSED),
    ("DELETE FROM returns", WRITE_REFUSED),
    ("CREATE TABLE notes (body text)", WRITE_REFUSED),
    ("WITH gone AS (DELETE FROM returns RETURNING id) SELECT count(*) FROM gone", WRITE_REFUSED),
    ("SET TRANSACTION READ WRITE", WRITE_REFUSED),
    ("SELECT 1; DROP TABLE orders", ONE_STATEMENT),
    ("ATTACH DATABASE 'other.db' AS other", "syntax error"),
    ("PRAGMA writable_schema=ON", "syntax error"),
    ("SELECT * FROM refunds", "no such table: refunds (tables: customers, order_items"),
]


@pytest.mark.parametrize(("query", "message"), REFUSALS)
async def test_refusals_leave_the_data_unchanged(
    toolbox: SqlToolbox,
    shop_schema: tuple[str, str],
    pristine: dict[str, str],
    query: str,
    message: str,
) -> None:
    with pytest.raises(SqlToolError) as refused:
        await toolbox.run_sql(query)
    assert message in refused.value.message
    assert await fingerprint(shop_schema[0]) == pristine


@pytest.mark.parametrize(
    "query",
    [
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1000000000)"
        " SELECT count(*) FROM n",
        "SELECT count(*) FROM order_items a, order_items b, order_items c",
        "SELECT pg_sleep(30)",
    ],
    ids=["recursive-cte", "cartesian-join", "sleep"],
)
async def test_runaway_queries_stop_at_the_time_limit(toolbox: SqlToolbox, query: str) -> None:
    started = time.monotonic()
    with pytest.raises(SqlToolError, match=r"query exceeded the 0\.5 s time limit"):
        await toolbox.run_sql(query)
    assert time.monotonic() - started < 3
    assert (await toolbox.run_sql("SELECT 1")).rows == [[1]]  # the pool is still usable


async def test_session_settings_do_not_leak_into_the_next_call(toolbox: SqlToolbox) -> None:
    await toolbox.run_sql("SET search_path = pg_catalog")
    result = await toolbox.run_sql("SELECT count(*) FROM orders")
    assert result.rows == [[3000]]


async def test_row_cap_and_answer(toolbox: SqlToolbox) -> None:
    capped = await toolbox.run_sql("SELECT id FROM orders ORDER BY id")
    assert capped.row_count == 50 and capped.truncated
    returned = await toolbox.run_sql(
        "SELECT count(DISTINCT order_id) FROM returns"
        " WHERE requested_at >= '2026-10-01T00:00:00Z' AND requested_at < '2026-11-01T00:00:00Z'"
    )
    assert returned.rows == [[RETURNED_LAST_MONTH]]


async def test_a_superuser_is_refused_by_default(shop_schema: tuple[str, str]) -> None:
    box = SqlToolbox.from_url(ADMIN_URL, schema=shop_schema[0])
    with pytest.raises(SqlToolError, match="SELECT-only role"):
        await box.list_tables()
    await box.aclose()
