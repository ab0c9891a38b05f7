"""SQLite backup and restore as docs/production.md does it: `qna-agent db backup` while a real
server is running and writing, `qna-agent db restore` into a fresh path, and a server on the
restored file answers with the same chats and messages."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes import FakeLLM, text
from tests.support.processes import base_env, free_port, server

pytestmark = pytest.mark.slow

Rows = dict[str, list[str]]


def rows(database: Path) -> Rows:
    """Every row of every table (the full-text index's included), read-only, in a stable order."""
    with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        tables = [
            name
            for (name,) in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {t: sorted(repr(r) for r in db.execute(f'SELECT * FROM "{t}"')) for t in tables}


def cli(env: dict[str, str], *args: str) -> str:
    """`qna-agent ARGS` as a separate process, as an operator (or kubectl exec) runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "qna_agent", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def read_chats(url: str, chat_ids: list[str]) -> dict[str, Any]:
    """Each chat and its messages, as the API returns them."""
    return {
        chat_id: (
            httpx.get(f"{url}/chats/{chat_id}").json(),
            httpx.get(f"{url}/chats/{chat_id}/messages").json(),
        )
        for chat_id in chat_ids
    }


def ask(url: str, title: str, questions: int) -> str:
    chat = httpx.post(f"{url}/chats", json={"title": title, "metadata": {"from": "test"}})
    assert chat.status_code == 201, chat.text
    chat_id = str(chat.json()["id"])
    for number in range(questions):
        answer = httpx.post(
            f"{url}/chats/{chat_id}/messages",
            json={"content": f"Question {number} about {title}?"},
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
    return chat_id


class Writer(threading.Thread):
    """Keeps creating chats and asking questions until stopped."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.turns = 0
        self.errors: list[str] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        number = 0
        while not self.stopping.is_set():
            number += 1
            try:
                chat_id = ask(self.url, f"written during the backup {number}", 0)
                for _ in range(2):
                    answer = httpx.post(
                        f"{self.url}/chats/{chat_id}/messages", json={"content": "Still there?"}
                    )
                    assert answer.status_code == 201, answer.text
                    self.turns += 1
            except (AssertionError, httpx.HTTPError) as exc:
                self.errors.append(repr(exc))
                return

    def wait_for(self, turns: int) -> None:
        deadline = time.monotonic() + 60
        while self.turns < turns and not self.errors:
            assert time.monotonic() < deadline, "the writer made no progress"
            time.sleep(0.02)
        assert not self.errors, self.errors


def test_online_backup_while_writing_and_restore_to_a_fresh_path(tmp_path: Path) -> None:
    with FakeLLM() as llm:
        llm.default = text("Returns are accepted within 30 days [1].")
        env = base_env(tmp_path, llm)
        live = tmp_path / "qna.db"
        backup = tmp_path / "backups" / "qna-backup.db"
        backup.parent.mkdir()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        with server(env, port, tmp_path / "server.log"):
            chat_ids = [ask(url, title, 2) for title in ("returns", "shipping", "gift cards")]
            through_the_api = read_chats(url, chat_ids)
            before = rows(live)
            writer = Writer(url)
            writer.start()
            try:
                writer.wait_for(2)
                written_before = writer.turns
                cli(env, "db", "backup", str(backup))
                writer.wait_for(writer.turns + 2)  # still writing after the backup
            finally:
                writer.stopping.set()
                writer.join(timeout=30)
            assert not writer.errors, writer.errors
        assert len(before["chats"]) == 3 and len(before["messages"]) == 12

        # A consistent copy: every row written before it, nothing torn.
        with closing(sqlite3.connect(backup)) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        copied = rows(backup)
        for table, existing in before.items():
            assert set(existing) <= set(copied[table]), f"{table}: rows missing from the backup"
        assert len(copied["messages"]) >= len(before["messages"]) + 2 * written_before
        assert len(rows(live)["messages"]) > len(copied["messages"])  # writes went on after

        # Restore into a path that does not exist yet, then serve from it.
        restored = tmp_path / "restored" / "data" / "qna.db"
        restored_env = {**env, "DATABASE_URL": f"sqlite+aiosqlite:///{restored}"}
        cli(restored_env, "db", "restore", str(backup), "--yes")
        assert rows(restored) == copied
        port = free_port()
        with server(restored_env, port, tmp_path / "restored.log"):
            assert read_chats(f"http://127.0.0.1:{port}", chat_ids) == through_the_api
        assert sorted(p.name for p in backup.parent.iterdir()) == [backup.name]  # no .partial
