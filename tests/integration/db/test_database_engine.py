"""The service database's engines: SQLite's durability setting, and bound parameters (questions,
answers, document text) kept out of error messages and so out of the logs."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import structlog
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from qna_agent.config import Settings
from qna_agent.db.engine import Database
from qna_agent.observability.logging import configure_logging

SECRET = "the-private-question-7f3a"


@pytest.mark.parametrize("backend", ["sqlite"])  # a SQLite setting
@pytest.mark.parametrize("level", [None, "FULL", "NORMAL"])
async def test_sqlite_synchronous_follows_the_setting(
    settings_factory: Callable[..., Settings], level: str | None
) -> None:
    overrides = {} if level is None else {"sqlite_synchronous": level}
    database = Database(settings_factory(**overrides))
    try:
        async with database.sessions() as session:
            read = await session.scalar(text("PRAGMA synchronous"))
        async with database.write_sessions.begin() as session:
            written = await session.scalar(text("PRAGMA synchronous"))
    finally:
        await database.dispose()
    expected = {None: 2, "FULL": 2, "NORMAL": 1}[level]  # FULL by default
    assert read == written == expected


async def test_a_failing_statement_never_logs_its_parameters(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", "json", secrets=[])
    database = Database(settings)
    try:
        statement = text("SELECT content FROM no_such_table WHERE content = :content")
        for sessions in (database.sessions, database.write_sessions.begin):
            with pytest.raises(DBAPIError) as failed:
                async with sessions() as session:
                    await session.execute(statement, {"content": SECRET})
            structlog.get_logger("test").error("statement_failed", exc_info=failed.value)
        for unit in (database.read, database.write):  # the units of work's engines too
            with pytest.raises(DBAPIError) as failed:
                await unit(lambda conn: conn.execute(statement, {"content": SECRET}))
            structlog.get_logger("test").error("statement_failed", exc_info=failed.value)
    finally:
        await database.dispose()
    logged = capsys.readouterr().err
    assert "statement_failed" in logged and "no_such_table" in logged
    assert SECRET not in logged
