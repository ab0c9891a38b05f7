"""What the command-line tests share: a clean environment, and the check of a failure's line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import Result

from tests.support.app import EXAMPLES


def cli_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **extra: str) -> Path:
    """Run commands in `tmp_path` on a fresh SQLite file there and the example documents."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'qna.db'}")
    monkeypatch.setenv("KNOWLEDGE_DIR", str(EXAMPLES))
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    return tmp_path


def one_error_line(result: Result) -> str:
    """The single `error: ...` line a failed command printed on stderr (never a traceback)."""
    stderr = result.stderr
    lines = stderr.strip().splitlines()
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: "), stderr
    return lines[0]
