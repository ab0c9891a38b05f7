"""Real `qna-agent serve` processes for end-to-end tests: a free port, the environment, and a
server that is ready before the test talks to it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import httpx

from tests.fakes import FakeLLM
from tests.support.app import EXAMPLES

QUESTION = "How long do I have to return an item?"


def free_port() -> int:
    """A TCP port of 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def base_env(tmp_path: Path, llm: FakeLLM) -> dict[str, str]:
    """A server on a SQLite file in `tmp_path`, talking to the fake LLM, starting fast."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "OPENAI_"))}
    env.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'qna.db'}",
        KNOWLEDGE_DIR=str(EXAMPLES),
        LLM_BASE_URL=llm.base_url,
        LLM_MAX_RETRIES="0",
        LOG_FORMAT="json",
        ENVIRONMENT="development",
        KB_EMBEDDER="none",  # these tests are about processes, not retrieval: start fast
    )
    return env


def api_key_env(
    tmp_path: Path, llm: FakeLLM, key: str, *, name: str = "admin", **settings: str
) -> dict[str, str]:
    """`base_env` with AUTH_MODE=api_key, one bootstrap admin `key` for principal `name`, and
    the extra `settings`."""
    (tmp_path / "keys").write_text(f"{name}:admin:{key}\n")
    env = base_env(tmp_path, llm)
    env.update(AUTH_MODE="api_key", API_KEYS_FILE=str(tmp_path / "keys"), **settings)
    return env


@contextmanager
def server(
    env: dict[str, str],
    port: int,
    log: Path,
    *args: str,
    stop: Literal["kill", "terminate"] = "kill",
) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m qna_agent serve [args]` until it is ready; stopped (if still running) after.

    `stop="terminate"` lets worker processes shut down with their parent (--workers N).
    """
    with log.open("ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "qna_agent", "serve", "--port", str(port), *args],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120  # a busy 2-core CI machine is slow to start
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"server did not become ready:\n{log.read_text()}")
            time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            process.kill() if stop == "kill" else process.terminate()
        process.wait(timeout=60)


def settled(url: str, chat_id: str, message_id: str, *, seconds: float = 30) -> dict[str, Any]:
    """The message once it is no longer `in_progress` (an orphan is failed within seconds)."""
    deadline = time.monotonic() + seconds
    while True:
        message: dict[str, Any] = httpx.get(f"{url}/chats/{chat_id}/messages/{message_id}").json()
        if message["status"] != "in_progress":
            return message
        assert time.monotonic() < deadline, f"message {message_id} is still in progress"
        time.sleep(0.1)
