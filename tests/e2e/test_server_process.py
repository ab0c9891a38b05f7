"""A real server process: crash recovery and graceful shutdown on SIGTERM."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import EXAMPLES
from tests.fake_llm import FakeLLM, text, tool_call

pytestmark = pytest.mark.slow

QUESTION = "How long do I have to return an item?"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(env: dict[str, str], port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m qna_agent serve` until it is ready; stopped (if still running) afterwards."""
    with log.open("ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "qna_agent", "serve", "--port", str(port)],
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
            process.kill()
        process.wait(timeout=30)


def base_env(tmp_path: Path, llm: FakeLLM) -> dict[str, str]:
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


def test_kill_during_a_turn_leaves_an_honest_record(tmp_path: Path) -> None:
    port = free_port()
    with FakeLLM() as llm:
        llm.script(text("never delivered", delay=30))
        env = base_env(tmp_path, llm)
        with server(env, port, tmp_path / "server.log") as process:
            url = f"http://127.0.0.1:{port}"
            chat_id = httpx.post(f"{url}/chats", json={}).json()["id"]

            def ask() -> None:
                with contextlib.suppress(httpx.TransportError):  # the server is killed
                    httpx.post(
                        f"{url}/chats/{chat_id}/messages", json={"content": QUESTION}, timeout=60
                    )

            asking = threading.Thread(target=ask, daemon=True)
            asking.start()
            deadline = time.monotonic() + 10
            while not llm.requests:
                assert time.monotonic() < deadline, "the turn never reached the model"
                time.sleep(0.05)
            history = httpx.get(f"{url}/chats/{chat_id}/messages").json()["data"]
            assert [m["status"] for m in history] == ["completed", "in_progress"]
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
        with server(env, port, tmp_path / "server.log"):
            history = httpx.get(f"http://127.0.0.1:{port}/chats/{chat_id}/messages").json()
    user, assistant = history["data"]
    assert user["content"] == QUESTION
    assert assistant["status"] == "failed"
    assert "interrupted" in assistant["error"]
    with sqlite3.connect(tmp_path / "qna.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_sigterm_finishes_the_stream_in_flight(tmp_path: Path) -> None:
    port = free_port()
    with FakeLLM() as llm:
        llm.script(
            tool_call("search_knowledge_base", query="return window"),
            text("You have 30 days [1].", delay=2.0),
        )
        env = base_env(tmp_path, llm)
        with server(env, port, tmp_path / "server.log") as process:
            url = f"http://127.0.0.1:{port}"
            chat_id = httpx.post(f"{url}/chats", json={}).json()["id"]
            events: list[str] = []
            with httpx.stream(
                "POST",
                f"{url}/chats/{chat_id}/messages",
                json={"content": QUESTION},
                headers={"Accept": "text/event-stream"},
                timeout=30,
            ) as response:
                for line in response.iter_lines():
                    if line.startswith("event: "):
                        events.append(line.removeprefix("event: "))
                        if events[-1] == "tool.result":
                            process.send_signal(signal.SIGTERM)
                    if line.startswith("data: ") and events and events[-1] == "message.completed":
                        completed = json.loads(line.removeprefix("data: "))
            # uvicorn re-raises the signal after its graceful shutdown, so the exit says SIGTERM.
            assert process.wait(timeout=30) in (0, -signal.SIGTERM)
        log = (tmp_path / "server.log").read_text()
        assert '"event": "stopped"' in log
    assert events[0] == "message.created"
    assert events[-1] == "message.completed"
    assert completed["content"] == "You have 30 days [1]."
    with sqlite3.connect(tmp_path / "qna.db") as db:
        status, content = db.execute(
            "SELECT status, content FROM messages WHERE role = 'assistant'"
        ).fetchone()
    assert (status, content) == ("completed", "You have 30 days [1].")
