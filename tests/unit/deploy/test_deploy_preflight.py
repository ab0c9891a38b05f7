"""deploy/k8s/overlays/prod/preflight.py, run as the prod pods and the migration Job run it: it
refuses settings that would fail quietly (no PostgreSQL, per-replica rate limits) and otherwise
becomes the command it wraps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.app import ROOT

PREFLIGHT = ROOT / "deploy" / "k8s" / "overlays" / "prod" / "preflight.py"
POSTGRES = "postgresql+asyncpg://qna:secret@postgres:5432/qna"
REDIS = "redis://:secret@redis:6379/0"
# What the wrapped command prints and exits with, to prove it ran in the preflight's place.
COMMAND = [sys.executable, "-c", "import os, sys; print('started', os.getpid()); sys.exit(7)"]


def preflight(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The preflight with the prod ConfigMap's basics plus `env`, in a clean environment."""
    values = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    values.update(ENVIRONMENT="production", LOG_FORMAT="json", HOME=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, str(PREFLIGHT), *COMMAND],
        env=values,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def refusals(result: subprocess.CompletedProcess[str]) -> list[str]:
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert all(line["event"] == "preflight_refused" for line in lines), result.stderr
    return [line["problem"] for line in lines]


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"REDIS_URL": REDIS}, "DATABASE_URL is unset or SQLite"),
        # The image's own default, which applies when the Secret has no DATABASE_URL.
        (
            {"DATABASE_URL": "sqlite+aiosqlite:////var/lib/qna-agent/qna.db", "REDIS_URL": REDIS},
            "SQLite",
        ),
        ({"DATABASE_URL": POSTGRES}, "REDIS_URL is unset"),
        ({"DATABASE_URL": POSTGRES, "REDIS_URL": REDIS, "PORT": "eighty"}, "PORT:"),
    ],
)
def test_refuses_with_a_line_naming_the_setting(
    tmp_path: Path, env: dict[str, str], problem: str
) -> None:
    result = preflight(tmp_path, **env)
    assert result.returncode == 2, result.stderr
    assert "started" not in result.stdout
    found = refusals(result)
    assert len(found) == 1 and problem in found[0], found
    assert "Traceback" not in result.stderr


def test_execs_the_command_when_settings_are_complete(tmp_path: Path) -> None:
    result = preflight(tmp_path, DATABASE_URL=POSTGRES, REDIS_URL=REDIS)
    assert result.returncode == 7, result.stderr  # the command's own status: it replaced us
    assert result.stdout.startswith("started")
    assert refusals(result) == []


def test_reads_values_from_secrets_dir_as_the_app_does(tmp_path: Path) -> None:
    """The Vault Agent component writes DATABASE_URL and REDIS_URL as files."""
    vault = tmp_path / "vault-secrets"
    vault.mkdir()
    (vault / "DATABASE_URL").write_text(POSTGRES)
    (vault / "REDIS_URL").write_text(REDIS)
    result = preflight(tmp_path, SECRETS_DIR=str(vault))
    assert result.returncode == 7, result.stderr


def test_no_redis_is_fine_when_rate_limits_are_off(tmp_path: Path) -> None:
    result = preflight(
        tmp_path,
        DATABASE_URL=POSTGRES,
        RATE_LIMIT_REQUESTS_PER_MINUTE="0",
        RATE_LIMIT_TOKENS_PER_DAY="0",
    )
    assert result.returncode == 7, result.stderr
