"""`qna-agent keys` through typer's runner: create prints once, list shows prefixes, revoke."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from qna_agent.cli import app
from qna_agent.security.keys import hash_key
from tests.support.cli import cli_environment

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return cli_environment(tmp_path, monkeypatch)


def test_create_list_revoke(env: Path) -> None:
    created = runner.invoke(app, ["keys", "create", "--name", "alice", "--role", "admin"])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[-1]
    assert key.startswith("qna_") and len(key) >= 40
    with sqlite3.connect(env / "qna.db") as db:
        stored = db.execute("SELECT name, role, prefix, key_hash FROM api_keys").fetchall()
    assert stored == [("alice", "admin", key[:12], hash_key(key))]

    listed = runner.invoke(app, ["keys", "list"])
    assert listed.exit_code == 0
    assert key[:12] in listed.output and key not in listed.output

    revoked = runner.invoke(app, ["keys", "revoke", key[:12]])
    assert revoked.exit_code == 0, revoked.output
    assert "revoked" in revoked.output
    assert key[:12] not in runner.invoke(app, ["keys", "list"]).output
    assert key[:12] in runner.invoke(app, ["keys", "list", "--all"]).output
    assert runner.invoke(app, ["keys", "revoke", "qna_nothere"]).exit_code == 1


def test_bad_name_or_role_exits_1(env: Path) -> None:
    bad_role = runner.invoke(app, ["keys", "create", "--name", "bob", "--role", "root"])
    assert bad_role.exit_code == 1
    assert "role" in bad_role.output
    bad_name = runner.invoke(app, ["keys", "create", "--name", "bob smith"])
    assert bad_name.exit_code == 1
