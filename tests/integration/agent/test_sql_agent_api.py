"""The agent answers a data question from the example shop database through the SQL tools."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from qna_agent.config import Settings
from tests.fakes import FakeLLM, Reply, text, tool_call
from tests.support.app import client_for, new_chat, parse_sse, running_app
from tests.support.shop import (
    RETURNED_LAST_MONTH,
    RETURNS_LAST_MONTH_SQL,
    SHOP,
    SHOP_TODAY,
    fingerprint,
)

QUESTION = "How many orders were returned last month?"


@pytest.fixture(scope="module")
def shop_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path: Path = tmp_path_factory.mktemp("shop") / "shop.db"
    SHOP.build_sqlite(path, today=SHOP_TODAY)
    return path


def with_sql(settings: Settings, fake_llm: FakeLLM, shop_db: Path) -> Settings:
    return settings.model_copy(
        update={
            "llm_provider": "openai",
            "llm_base_url": fake_llm.base_url,
            "llm_max_retries": 0,
            "sql_tool_database_url": f"sqlite:///{shop_db}",
        }
    )


async def test_data_question_is_answered_from_the_database(
    settings: Settings, fake_llm: FakeLLM, shop_db: Path
) -> None:
    fake_llm.script(
        tool_call("list_tables"),
        tool_call("run_sql", query=RETURNS_LAST_MONTH_SQL),
        text(f"{RETURNED_LAST_MONTH} orders were returned in October 2026 [1]."),
    )
    async with running_app(with_sql(settings, fake_llm, shop_db)) as (app, services):
        assert {"list_tables", "describe_table", "run_sql"} <= set(services.agent.tools.names)
        async with client_for(app) as client:
            chat_id = await new_chat(client)
            response = await client.post(f"/chats/{chat_id}/messages", json={"content": QUESTION})
    assert response.status_code == 201, response.text
    message = response.json()
    # The number the model was given came from the real database.
    tool_results = [m for m in fake_llm.requests[2]["messages"] if m["role"] == "tool"]
    assert "orders" in tool_results[0]["content"] and "returns" in tool_results[0]["content"]
    sql_result = tool_results[1]["content"]
    assert sql_result.startswith("ref: 1\n1 row")
    assert f"| {RETURNED_LAST_MONTH} |" in sql_result
    # The system prompt tells the model about the data tools, and today's date for "last month".
    system = fake_llm.requests[0]["messages"][0]["content"]
    assert "run_sql" in system
    assert f"{datetime.now(UTC).date().isoformat()} (UTC)" in system
    assert [t["function"]["name"] for t in fake_llm.requests[0]["tools"]] == [
        "search_knowledge_base",
        "list_tables",
        "describe_table",
        "run_sql",
    ]
    [citation] = message["citations"]
    assert citation["kind"] == "sql"
    assert citation["query"] == RETURNS_LAST_MONTH_SQL
    assert citation["row_count"] == 1
    assert citation["ref"] == 1
    assert [call["name"] for call in message["tool_calls"]] == ["list_tables", "run_sql"]
    assert all(call["status"] == "ok" for call in message["tool_calls"])
    assert message["tool_calls"][1]["result_summary"].startswith("1 row from: SELECT count")


async def test_refused_write_goes_back_to_the_model_and_changes_nothing(
    settings: Settings, fake_llm: FakeLLM, shop_db: Path
) -> None:
    before = fingerprint(shop_db)
    fake_llm.script(
        tool_call("run_sql", query="DROP TABLE orders"),
        tool_call("run_sql", query="SELECT 1; DELETE FROM returns"),
        Reply(tool_calls=[("describe_table", {"name": "no_such_table"})]),
        text("I cannot change the data."),
    )
    async with (
        running_app(with_sql(settings, fake_llm, shop_db)) as (app, _),
        client_for(app) as client,
    ):
        chat_id = await new_chat(client)
        response = await client.post(
            f"/chats/{chat_id}/messages",
            params={"stream": "true"},
            json={"content": "Delete the orders table"},
        )
    events = parse_sse(response.text)
    calls = [e["data"] for e in events if e["event"] == "tool.call"]
    assert [c["name"] for c in calls] == ["run_sql", "run_sql", "describe_table"]
    results = [e["data"] for e in events if e["event"] == "tool.result"]
    assert [r["status"] for r in results] == ["error", "error", "error"]
    completed = events[-1]["data"]
    assert completed["status"] == "completed"
    assert [c["status"] for c in completed["tool_calls"]] == ["error", "error", "error"]
    told = [m["content"] for m in fake_llm.requests[-1]["messages"] if m["role"] == "tool"]
    assert "read-only" in told[0]
    assert "one statement" in told[1]
    assert "no such table: no_such_table" in told[2] and "orders" in told[2]
    assert fingerprint(shop_db) == before
