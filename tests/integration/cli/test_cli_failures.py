"""Failing commands say what went wrong in one line on stderr, with an exit code that means it.

docs/cli.md: 1 the work failed, 2 usage or configuration, 3 a database or server that cannot be
reached. Never a traceback.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from qna_agent.cli import app
from qna_agent.cli.common import ReportingGroup
from tests.support.app import EXAMPLES
from tests.support.cli import cli_environment, one_error_line
from tests.support.postgres import postgres_url
from tests.support.processes import free_port

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return cli_environment(tmp_path, monkeypatch, KB_EMBEDDER="none")


@pytest.mark.parametrize(
    "command",
    [
        ["keys", "list"],
        ["keys", "create", "--name", "alice"],
        ["kb", "stats"],
        ["kb", "search", "refunds"],
        ["db", "upgrade"],
        ["ask", "--local", "How long do I have to return an item?"],
    ],
    ids=" ".join,
)
def test_an_unreachable_database_exits_3(
    env: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    port = free_port()  # nobody listens there
    monkeypatch.setenv("DATABASE_URL", f"postgresql+asyncpg://postgres@127.0.0.1:{port}/test")
    result = runner.invoke(app, command)
    assert result.exit_code == 3, result.output
    assert "cannot connect (ConnectionRefusedError" in one_error_line(result)


def test_a_database_host_that_does_not_resolve_exits_3(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://postgres@no-such-host.invalid/test")
    result = runner.invoke(app, ["keys", "list"])
    assert result.exit_code == 3, result.output
    assert "cannot connect (gaierror" in one_error_line(result)


@pytest.mark.postgres
def test_a_database_that_refuses_the_connection_exits_3(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres_url()
    assert url is not None
    monkeypatch.setenv("DATABASE_URL", url.rsplit("/", 1)[0] + "/no_such_database_here")
    result = runner.invoke(app, ["keys", "list"])
    assert result.exit_code == 3, result.output
    assert 'database "no_such_database_here" does not exist' in one_error_line(result)


def test_a_domain_error_is_one_line_exit_1(env: Path) -> None:
    result = runner.invoke(app, ["keys", "revoke", "qna_nosuchkey"])
    assert result.exit_code == 1, result.output
    assert "no key qna_nosuchkey" in one_error_line(result)


def test_a_bad_setting_file_is_a_configuration_error(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (env / "keys").write_text("not a key line\n")
    monkeypatch.setenv("API_KEYS_FILE", str(env / "keys"))
    result = runner.invoke(app, ["keys", "list"])
    assert result.exit_code == 2, result.output
    assert "API_KEYS_FILE" in one_error_line(result)


def test_an_unexpected_error_is_one_line_unless_debugging(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tiny = typer.Typer(cls=ReportingGroup)

    @tiny.command()
    def boom() -> None:
        raise RuntimeError("the flux capacitor")

    @tiny.command()
    def other() -> None:
        """A second command, so `boom` is a subcommand as in the real app."""

    result = runner.invoke(tiny, ["boom"])
    assert result.exit_code == 1
    line = one_error_line(result)
    assert "unexpected RuntimeError: the flux capacitor" in line
    assert "QNA_DEBUG=1" in line
    monkeypatch.setenv("QNA_DEBUG", "1")
    debugging = runner.invoke(tiny, ["boom"])
    assert isinstance(debugging.exception, RuntimeError)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("API_KEYS_FILE", "keys.txt", "API_KEYS_FILE"),
        ("SQL_TOOL_DATABASE_URL", "mysql://x", "SQL_TOOL_DATABASE_URL: unsupported scheme"),
    ],
)
def test_serve_with_a_bad_setting_exits_2_with_one_line(
    tmp_path: Path, variable: str, value: str, expected: str
) -> None:
    (tmp_path / "keys.txt").write_text("alice:superuser:qna_0123456789abcdefghijklmnopqrstuvwxyz\n")
    environment = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'qna.db'}",
        "KNOWLEDGE_DIR": str(EXAMPLES),
        "KB_EMBEDDER": "none",
        "COLUMNS": "60",  # a narrow terminal setting must not split the line of a pipe
        variable: value,
    }
    process = subprocess.run(
        [sys.executable, "-m", "qna_agent", "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 2, process.stderr
    assert "Traceback" not in process.stderr
    # Besides the service's own JSON log lines of its start: one line, not wrapped.
    lines = [line for line in process.stderr.splitlines() if not line.startswith("{")]
    assert len(lines) == 1 and lines[0].startswith("error: "), process.stderr
    assert expected in lines[0]


def test_a_refused_first_question_leaves_no_empty_chat(env: Path) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    refused = runner.invoke(app, ["ask", "--local", "x" * 40], env={"MAX_MESSAGE_CHARS": "30"})
    assert refused.exit_code == 2, refused.output
    assert one_error_line(refused) == "error: message is 40 characters; the limit is 30"
    listed = runner.invoke(app, ["ask", "--local", "--json", "Can I return a gift?"])
    assert listed.exit_code == 0, listed.output

    with sqlite3.connect(env / "qna.db") as db:
        assert db.execute("SELECT count(*) FROM chats").fetchone() == (1,)  # only the answered
