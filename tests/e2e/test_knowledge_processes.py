"""A serving process sees the knowledge-base changes another process makes: the CLI Job the
docs recommend (`qna-agent kb ingest`, `kb sync`) next to a running server."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.fakes import FakeLLM
from tests.support.processes import base_env, free_port, server

pytestmark = pytest.mark.slow


def cli(env: dict[str, str], *args: str) -> str:
    """Run `python -m qna_agent ARGS` to completion, as a Kubernetes Job would."""
    result = subprocess.run(
        [sys.executable, "-m", "qna_agent", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def sources(url: str, query: str) -> list[str]:
    response = httpx.get(f"{url}/kb/search", params={"q": query}, timeout=10)
    assert response.status_code == 200, response.text
    return [hit["source"] for hit in response.json()["results"]]


def eventually(check: Callable[[], bool], seconds: float = 10.0) -> None:
    """Poll `check()` until it is true (the server looks at the generation once a second)."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "the server never saw the other process's change"
        time.sleep(0.2)


def test_the_server_follows_the_cli(tmp_path: Path) -> None:
    knowledge = tmp_path / "kb"
    knowledge.mkdir()
    (knowledge / "tents.md").write_text("# Tents\n\nOur tents are tested in Welsh rain.\n")
    manuals = tmp_path / "manuals"
    manuals.mkdir()
    (manuals / "lamp.md").write_text("# Lamp\n\nReplace the quokka bulb every spring.\n")
    port = free_port()
    with FakeLLM() as llm:
        env = base_env(tmp_path, llm)
        env.update(KNOWLEDGE_DIR=str(knowledge), KB_SYNC_INTERVAL_SECONDS="0")
        with server(env, port, tmp_path / "server.log"):
            url = f"http://127.0.0.1:{port}"
            assert sources(url, "quokka bulb") == []  # cached by the server now
            assert sources(url, "Welsh rain") == ["tents.md"]

            cli(env, "kb", "ingest", str(manuals))
            eventually(lambda: sources(url, "quokka bulb") == ["uploads/lamp.md"])

            (knowledge / "tents.md").unlink()
            cli(env, "kb", "sync")
            eventually(lambda: sources(url, "Welsh rain") == [])
