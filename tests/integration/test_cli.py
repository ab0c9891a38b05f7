"""The command line through typer's runner: backup/restore, config, knowledge base."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qna_agent.cli import app
from qna_agent.db.migrate import head_revisions
from tests.conftest import EXAMPLES

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'qna.db'}")
    monkeypatch.setenv("KNOWLEDGE_DIR", str(EXAMPLES))
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    return tmp_path


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


def test_config_show_masks_secrets(env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLM_API_KEY", "sk-very-secret")
    shown = runner.invoke(app, ["config", "show"])
    assert shown.exit_code == 0
    assert "sk-very-secret" not in shown.output
    assert "LLM_API_KEY=**********" in shown.output


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
