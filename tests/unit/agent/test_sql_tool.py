"""The read-only SQL tool against a Harbor & Pine SQLite database built by the example script."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from qna_agent.agent.tools.sql.backends import ONE_STATEMENT, WRITE_REFUSED, backend_from_url
from qna_agent.agent.tools.sql.results import SqlToolError, to_json_safe
from qna_agent.agent.tools.sql.sqlite import ReadOnlyAuthorizer, SqliteBackend
from qna_agent.agent.tools.sql.statements import single_statement
from qna_agent.agent.tools.sql.toolbox import SqlToolbox
from tests.support.shop import (
    RETURNED_LAST_MONTH,
    RETURNS_LAST_MONTH_SQL,
    SHOP,
    SHOP_TODAY,
    fingerprint,
)


@pytest.fixture(scope="module")
def shop_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path: Path = tmp_path_factory.mktemp("shop") / "shop.db"
    SHOP.build_sqlite(path, today=SHOP_TODAY)
    return path


@pytest.fixture(scope="module")
def pristine(shop_db: Path) -> tuple[str, dict[str, int]]:
    return fingerprint(shop_db)


@pytest.fixture
def toolbox(shop_db: Path) -> SqlToolbox:
    return SqlToolbox.from_url(f"sqlite:///{shop_db}", time_limit_s=0.5)


# The example data set ------------------------------------------------------------------------


def test_builder_is_deterministic_and_refuses_to_overwrite(
    tmp_path: Path, shop_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    again = tmp_path / "again.db"
    # Any day of November 2026 builds the data as of 1 November 2026, byte for byte.
    assert SHOP.main([str(again), "--today", "2026-11-19"]) == 0
    out = capsys.readouterr().out
    assert "3000 orders, 5964 order_items, 221 returns (reference date 2026-11-01)" in out
    assert again.read_bytes() == shop_db.read_bytes()
    assert SHOP.main([str(again), "--today", "2026-11-01"]) == 1
    assert "--force" in capsys.readouterr().err
    assert SHOP.main([str(again), "--force", "--today", "2026-11-01"]) == 0
    assert [p.name for p in tmp_path.iterdir()] == ["again.db"]  # no temporary file left
    with pytest.raises(SystemExit):
        SHOP.main([str(again), "--today", "1 Nov 2026"])
    assert "expected a date as YYYY-MM-DD" in capsys.readouterr().err


def test_by_default_last_month_is_a_whole_month_of_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Built today, the data ends on the first of this month: last month has orders and
    returns every day up to its end, whatever month it is now."""
    today = dt.datetime.now(dt.UTC).date()
    first = today.replace(day=1)
    previous = (first - dt.timedelta(days=1)).replace(day=1)
    path = tmp_path / "shop.db"
    assert SHOP.main([str(path)]) == 0
    assert f"(reference date {first.isoformat()})" in capsys.readouterr().out
    assert SHOP.built_for(path) == first
    with sqlite3.connect(path) as connection:
        last_order, returned = connection.execute(
            "SELECT (SELECT max(placed_at) FROM orders),"
            " (SELECT count(DISTINCT order_id) FROM returns"
            "  WHERE requested_at >= ? AND requested_at < ?)",
            (previous.isoformat(), first.isoformat()),
        ).fetchone()
    connection.close()
    assert previous.isoformat() < last_order < first.isoformat()
    assert returned > 10


def test_refresh_rebuilds_only_a_file_of_another_month(
    tmp_path: Path, shop_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "shop.db"
    assert SHOP.main([str(path), "--refresh", "--today", "2026-10-05"]) == 0  # missing: built
    assert SHOP.built_for(path) == dt.date(2026, 10, 1)
    built = path.stat().st_mtime_ns, path.stat().st_ino
    capsys.readouterr()
    assert SHOP.main([str(path), "--refresh", "--today", "2026-10-31"]) == 0
    assert "is up to date (reference date 2026-10-01)" in capsys.readouterr().out
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == built
    assert SHOP.main([str(path), "--refresh", "--today", "2026-11-01"]) == 0  # a new month
    assert path.read_bytes() == shop_db.read_bytes()
    assert SHOP.built_for(tmp_path / "missing.db") is None


def test_returns_respect_the_window_and_the_reference_date(shop_db: Path) -> None:
    with sqlite3.connect(shop_db) as connection:
        rows = connection.execute(
            "SELECT r.requested_at, o.delivered_at, o.status FROM returns r"
            " JOIN orders o ON o.id = r.order_id"
        ).fetchall()
        delivered = connection.execute(
            "SELECT count(*) FROM orders WHERE status = 'delivered'"
        ).fetchone()[0]
    connection.close()
    assert 0.06 < len(rows) / delivered < 0.10
    for requested, delivered_at, status in rows:
        assert status == "delivered"
        asked = dt.datetime.fromisoformat(requested)
        arrived = dt.datetime.fromisoformat(delivered_at)
        assert arrived <= asked <= arrived + dt.timedelta(days=30)
        assert asked < dt.datetime(2026, 11, 1)


# Listing and describing ----------------------------------------------------------------------


async def test_list_tables(toolbox: SqlToolbox) -> None:
    names = [table.name for table in await toolbox.list_tables()]
    assert names == ["customers", "order_items", "orders", "products", "returns"]


async def test_describe_table_has_columns_keys_and_three_samples(toolbox: SqlToolbox) -> None:
    table = await toolbox.describe_table("Order_Items")
    assert table.name == "order_items"
    assert table.primary_key == ["id"]
    assert {(k.column, k.references_table) for k in table.foreign_keys} == {
        ("order_id", "orders"),
        ("product_id", "products"),
    }
    assert [c.name for c in table.columns][:3] == ["id", "order_id", "product_id"]
    assert len(table.sample_rows) == 3 and table.sample_columns[0] == "id"
    assert "foreign key order_id -> orders.id" in table.render()


async def test_unknown_table_lists_the_real_ones(toolbox: SqlToolbox) -> None:
    expected = "no such table: refunds (tables: customers, order_items, orders, products, returns)"
    with pytest.raises(SqlToolError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        await toolbox.describe_table("refunds")
    with pytest.raises(SqlToolError, match="no such table: refunds"):
        await toolbox.run_sql("SELECT * FROM refunds")


# Refusals: each one leaves the file byte for byte as it was ----------------------------------

REFUSALS = [
    ("DROP TABLE orders", WRITE_REFUSED),
    ("INSERT INTO orders (id) VALUES (99999)", WRITE_REFUSED),
    ("UPDATE orders SET total_cents = 0", WRITE_REFUSED),
    ("DELETE FROM returns", WRITE_REFUSED),
    ("CREATE TABLE notes (body TEXT)", WRITE_REFUSED),
    ("CREATE TEMP TABLE notes (body TEXT)", WRITE_REFUSED),
    ("ALTER TABLE orders ADD COLUMN note TEXT", WRITE_REFUSED),
    ("UPDATE sqlite_master SET sql = ''", WRITE_REFUSED),
    ("ANALYZE", WRITE_REFUSED),
    ("REINDEX", WRITE_REFUSED),
    ("ATTACH DATABASE 'other.db' AS other", "ATTACH and DETACH are not allowed"),
    ("PRAGMA writable_schema=ON", "PRAGMA writable_schema is not allowed"),
    ("PRAGMA journal_mode=DELETE", "PRAGMA journal_mode is not allowed"),
    ("PRAGMA query_only=OFF", "PRAGMA query_only is not allowed"),
    ("SELECT load_extension('/tmp/evil')", "the function load_extension() is not allowed"),
    ("BEGIN IMMEDIATE", "transactions are not allowed"),
    ("SELECT 1; DROP TABLE orders", ONE_STATEMENT),
    ("SELECT 1; -- fine\n; DELETE FROM orders", ONE_STATEMENT),
    ("SELECT randomblob(200000000)", "is larger than"),
]


@pytest.mark.parametrize(("query", "message"), REFUSALS)
async def test_refusals_leave_the_data_unchanged(
    toolbox: SqlToolbox,
    shop_db: Path,
    pristine: tuple[str, dict[str, int]],
    query: str,
    message: str,
) -> None:
    with pytest.raises(SqlToolError) as refused:
        await toolbox.run_sql(query)
    assert message in refused.value.message
    assert fingerprint(shop_db) == pristine


async def test_vacuum_into_writes_no_file(toolbox: SqlToolbox, tmp_path: Path) -> None:
    target = tmp_path / "copy.db"
    with pytest.raises(SqlToolError, match="ATTACH and DETACH are not allowed"):
        await toolbox.run_sql(f"VACUUM INTO '{target}'")
    assert not target.exists()


@pytest.mark.parametrize(
    "query",
    [
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 1000000000)"
        " SELECT count(*) FROM n",
        "SELECT count(*) FROM order_items a, order_items b, order_items c",
    ],
    ids=["recursive-cte", "cartesian-join"],
)
async def test_runaway_queries_stop_at_the_time_limit(
    toolbox: SqlToolbox, shop_db: Path, pristine: tuple[str, dict[str, int]], query: str
) -> None:
    started = time.monotonic()
    with pytest.raises(SqlToolError, match=r"query exceeded the 0\.5 s time limit"):
        await toolbox.run_sql(query)
    assert time.monotonic() - started < 3
    assert fingerprint(shop_db) == pristine


async def test_each_lock_holds_on_its_own(shop_db: Path, tmp_path: Path) -> None:
    backend = SqliteBackend(shop_db, time_limit_s=1.0)
    # The mode=ro URI alone: no authorizer, no query_only.
    bare = sqlite3.connect(backend.uri, uri=True)
    with pytest.raises(sqlite3.OperationalError, match="readonly database"):
        bare.execute("DELETE FROM orders")
    bare.close()
    # The authorizer alone, on a writable copy.
    writable = sqlite3.connect(tmp_path / "copy.db")
    writable.execute("CREATE TABLE t (a INTEGER)")
    writable.set_authorizer(ReadOnlyAuthorizer())
    for query in ("INSERT INTO t VALUES (1)", "DROP TABLE t", "ATTACH ':memory:' AS m"):
        with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
            writable.execute(query)
    writable.close()
    # sqlite3 itself refuses a second statement, without the toolbox's own check.
    with pytest.raises(SqlToolError, match=ONE_STATEMENT):
        await backend.fetch("SELECT 1; DROP TABLE orders", 10)


# Caps ----------------------------------------------------------------------------------------


async def test_row_cap_truncates_and_says_so(shop_db: Path) -> None:
    toolbox = SqlToolbox.from_url(str(shop_db), max_rows=10)
    result = await toolbox.run_sql("SELECT id, status FROM orders ORDER BY id")
    assert result.row_count == 10 and result.truncated
    assert result.truncation is not None and "first 10 rows" in result.truncation
    assert result.render().startswith("10 rows (truncated)\n| id | status |")
    exact = await toolbox.run_sql("SELECT id FROM orders ORDER BY id LIMIT 10")
    assert exact.row_count == 10 and not exact.truncated


async def test_size_cap_keeps_the_json_under_the_limit(shop_db: Path) -> None:
    toolbox = SqlToolbox.from_url(str(shop_db), max_result_bytes=2_000, max_cell_chars=20)
    result = await toolbox.run_sql("SELECT *, printf('%.100c', 'x') AS filler FROM customers")
    assert result.truncated and 0 < result.row_count < 50
    assert len(json.dumps(result.rows, ensure_ascii=False).encode()) <= 2_000
    assert result.rows[0][-1] == "x" * 20 + "… (100 characters, cut)"
    assert result.truncation is not None and "2000 bytes" in result.truncation


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "empty"),
        ("  ;  ", "empty"),
        ("-- nothing\n", "empty"),
        ("SELECT 1" + " " * 10_000, "limit"),
    ],
)
async def test_empty_and_overlong_queries_are_refused(
    toolbox: SqlToolbox, query: str, message: str
) -> None:
    with pytest.raises(SqlToolError, match=message):
        await toolbox.run_sql(query)


# Answers -------------------------------------------------------------------------------------


async def test_returns_last_month_matches_an_independent_count(
    toolbox: SqlToolbox, shop_db: Path
) -> None:
    result = await toolbox.run_sql(RETURNS_LAST_MONTH_SQL + ";")
    with sqlite3.connect(shop_db) as connection:
        requested = connection.execute("SELECT order_id, requested_at FROM returns").fetchall()
    connection.close()
    october = {
        order_id
        for order_id, at in requested
        if dt.datetime(2026, 10, 1) <= dt.datetime.fromisoformat(at) < dt.datetime(2026, 11, 1)
    }
    assert result.rows == [[len(october)]] == [[RETURNED_LAST_MONTH]]
    assert result.summary().startswith("1 row from: SELECT count(DISTINCT order_id) FROM returns")


async def test_concurrent_calls_each_get_their_own_connection(toolbox: SqlToolbox) -> None:
    results = await asyncio.gather(
        *(toolbox.run_sql(f"SELECT count(*) FROM orders WHERE id > {n}") for n in range(8))
    )
    assert [r.rows[0][0] for r in results] == [3000 - n for n in range(8)]


async def test_json_functions_work_on_a_fresh_connection(toolbox: SqlToolbox) -> None:
    result = await toolbox.run_sql("SELECT value FROM json_each('[1, 2]')")
    assert result.rows == [[1], [2]]


# Pieces --------------------------------------------------------------------------------------


def test_values_become_json_safe() -> None:
    moment = dt.datetime(2026, 10, 3, 12, 30, tzinfo=dt.UTC)
    key = uuid.UUID(int=1)
    values = [Decimal("12.50"), moment, b"\x00\x01", float("nan"), [1, Decimal("2")], key, None]
    assert [to_json_safe(v, max_chars=100) for v in values] == [
        "12.5",
        "2026-10-03T12:30:00+00:00",
        "<2 bytes>",
        "nan",
        [1, "2"],
        str(key),
        None,
    ]


@pytest.mark.parametrize(
    ("query", "statement"),
    [
        ("SELECT ';' AS x;", "SELECT ';' AS x"),
        ("SELECT 1 -- ; DROP TABLE orders", "SELECT 1 -- ; DROP TABLE orders"),
        ('SELECT "a;b" FROM t; /* done */ ;', 'SELECT "a;b" FROM t'),
        ("SELECT $$a;b$$", "SELECT $$a;b$$"),
        ("SELECT 'it''s;' ;\n", "SELECT 'it''s;'"),
    ],
)
def test_single_statement_allows_semicolons_in_strings_and_comments(
    query: str, statement: str
) -> None:
    assert single_statement(query) == statement


def test_database_urls(tmp_path: Path) -> None:
    assert backend_from_url("sqlite:///data/shop.db", time_limit_s=1).dialect == "sqlite"
    absolute = backend_from_url(f"sqlite:///{tmp_path}/a.db", time_limit_s=1)
    assert isinstance(absolute, SqliteBackend) and absolute.path == tmp_path / "a.db"
    relative = backend_from_url("sqlite+aiosqlite:///data/shop.db", time_limit_s=1)
    assert isinstance(relative, SqliteBackend) and relative.path == Path("data/shop.db")
    assert backend_from_url("postgresql+asyncpg://u@h/db", time_limit_s=1).dialect == "postgresql"
    for bad in ("sqlite:///:memory:", "mysql://u@h/db"):
        with pytest.raises(ValueError, match="SQLite file path|unsupported"):
            backend_from_url(bad, time_limit_s=1)


async def test_missing_file_is_a_tool_error(tmp_path: Path) -> None:
    toolbox = SqlToolbox.from_url(str(tmp_path / "absent.db"))
    with pytest.raises(SqlToolError, match="missing"):
        await toolbox.list_tables()
    assert not (tmp_path / "absent.db").exists()
