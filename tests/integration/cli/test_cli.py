"""The command line through typer's runner: backup/restore, config, knowledge base."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qna_agent.cli import app
from qna_agent.db.migrate import head_revisions
from tests.support.cli import cli_environment, one_error_line

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return cli_environment(tmp_path, monkeypatch)


def test_db_upgrade_kb_sync_search_and_stats(env: Path) -> None:
    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert f"database at revision {max(head_revisions())}" in upgraded.output
    synced = runner.invoke(app, ["kb", "sync"])
    assert synced.exit_code == 0, synced.output
    assert "13 added" in synced.output
    again = runner.invoke(app, ["kb", "sync", "--json"])
    assert '"unchanged"' in again.output and '"added": []' in again.output
    found = runner.invoke(app, ["kb", "search", "gift card expiry", "--json"])
    assert found.exit_code == 0
    assert "gift-cards-and-promotions.md" in found.output
    stats = runner.invoke(app, ["kb", "stats"])
    assert stats.output.startswith("13 documents")


def test_backup_and_restore_round_trip(env: Path) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    database = env / "qna.db"
    with sqlite3.connect(database) as db:
        db.execute(
            "INSERT INTO chats (id, owner_id, title, metadata, created_at, updated_at) "
            "VALUES ('00000000000070008000000000000001', 'a', 'kept', '{}', "
            "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"
        )
    backup = env / "backup.db"
    made = runner.invoke(app, ["db", "backup", str(backup)])
    assert made.exit_code == 0, made.output
    assert runner.invoke(app, ["db", "backup", str(backup)]).exit_code == 1  # never overwrite

    with sqlite3.connect(database) as db:
        db.execute("DELETE FROM chats")
    restored = runner.invoke(app, ["db", "restore", str(backup), "--yes"])
    assert restored.exit_code == 0, restored.output
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT title FROM chats").fetchall() == [("kept",)]


def test_bad_configuration_exits_2_with_one_line(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORT", "not-a-port")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 2
    assert "PORT:" in result.output
    assert "Traceback" not in result.output


def test_restore_refuses_postgres(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u@localhost/db")
    result = runner.invoke(app, ["db", "backup", "x.db"])
    assert result.exit_code == 2
    assert "pg_dump" in result.output


def test_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.output.strip()


def test_kb_ingest_uploads_and_reports_skips(env: Path) -> None:
    docs = env / "docs"
    docs.mkdir()
    (docs / "faq.md").write_text("# FAQ\n\nThe walrus desk opens at nine.\n")
    (docs / "logo.png").write_bytes(b"\x89PNG")
    result = runner.invoke(app, ["kb", "ingest", str(docs), "--json"])
    assert result.exit_code == 0, result.output
    assert '"uploads/faq.md"' in result.output
    assert "unsupported file type" in result.output
    found = runner.invoke(app, ["kb", "search", "walrus desk", "--json"])
    assert "uploads/faq.md" in found.output
    missing = runner.invoke(app, ["kb", "ingest", str(env / "nope")])
    assert missing.exit_code == 1


def test_backup_of_a_missing_database_fails_and_creates_nothing(env: Path) -> None:
    result = runner.invoke(app, ["db", "backup", str(env / "backup.db")])
    assert result.exit_code == 2, result.output
    assert "no database at" in one_error_line(result)
    assert not (env / "qna.db").exists()  # the mistyped source is not created empty
    assert sorted(p.name for p in env.iterdir()) == []


def test_backup_creates_the_target_directory(env: Path) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    target = env / "backups" / "2026" / "qna.db"
    result = runner.invoke(app, ["db", "backup", str(target)])
    assert result.exit_code == 0, result.output
    assert [p.name for p in target.parent.iterdir()] == ["qna.db"]  # no .partial left
    with closing(sqlite3.connect(target)) as copy:
        assert copy.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"this is not a database at all, just some text" * 20, "is not a SQLite database"),
        (b"", "is not a qna-agent database"),
    ],
    ids=["garbage", "empty"],
)
def test_restore_refuses_a_file_that_is_not_a_backup(
    env: Path, content: bytes, expected: str
) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    before = (env / "qna.db").read_bytes()
    bogus = env / "bogus.db"
    bogus.write_bytes(content)
    result = runner.invoke(app, ["db", "restore", str(bogus), "--yes"])
    assert result.exit_code == 1, result.output
    assert expected in one_error_line(result)
    assert (env / "qna.db").read_bytes() == before


def test_config_show_prints_the_values_in_effect(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "test")
    monkeypatch.setenv("LLM_API_KEY", "sk-very-secret")
    shown = runner.invoke(app, ["config", "show"])
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    # Unset, they are decided from the others: show the decision, not "None".
    assert "AUTH_MODE=api_key" in lines
    assert "DB_AUTO_MIGRATE=true" in lines
    assert "LLM_PROVIDER=openai" in lines
    assert "SECRETS_DIR=(unset)" in lines
    assert "LLM_API_KEY=**********" in lines
    # Never wrapped when piped: the long default prompt stays on its line.
    [prompt] = [line for line in lines if line.startswith("AGENT_SYSTEM_PROMPT=")]
    assert prompt.endswith("Be concise.")

    as_json = runner.invoke(app, ["config", "show", "--json"])
    assert as_json.exit_code == 0, as_json.output
    values = json.loads(as_json.stdout)
    assert values["AUTH_MODE"] == "api_key" and values["LLM_PROVIDER"] == "openai"
    assert values["PORT"] == 8000 and values["SECRETS_DIR"] is None
    assert values["LLM_API_KEY"] == "**********"
    assert "sk-very-secret" not in as_json.stdout
    assert values["LLM_PRICES"]["gpt-4o-mini"] == {"prompt": 0.15, "completion": 0.6}


def test_config_show_masks_passwords_in_connection_urls(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SQL_TOOL_DATABASE_URL", "postgresql://reader:pa55w0rd@db:5432/shop")
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://app:r3al-secret@pg:5432/qna")
    shown = runner.invoke(app, ["config", "show", "--json"])
    assert shown.exit_code == 0, shown.output
    values = json.loads(shown.stdout)
    assert values["SQL_TOOL_DATABASE_URL"] == "postgresql://reader:***@db:5432/shop"
    assert values["DATABASE_URL"] == "postgresql+asyncpg://app:***@pg:5432/qna"
    assert "pa55w0rd" not in shown.stdout and "r3al-secret" not in shown.stdout


@pytest.mark.parametrize(
    ("group", "example"),
    [
        ([], "qna-agent serve --port 8000"),
        (["kb"], "qna-agent kb sync"),
        (["keys"], "qna-agent keys create --name alice --role user"),
        (["db"], "qna-agent db upgrade"),
        (["config"], "qna-agent config show"),
        (["eval"], "qna-agent eval retrieval"),
    ],
    ids=lambda value: (" ".join(value) or "top") if isinstance(value, list) else "",
)
def test_every_group_help_shows_examples(group: list[str], example: str) -> None:
    result = runner.invoke(app, [*group, "--help"])
    assert result.exit_code == 0, result.output
    assert "Examples:" in result.stdout
    assert example in result.stdout
