"""A real server process: crash recovery and graceful shutdown on SIGTERM."""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.fakes import FakeLLM, text, tool_call
from tests.support.processes import QUESTION, base_env, free_port, server, settled

pytestmark = pytest.mark.slow


def test_kill_during_a_turn_leaves_an_honest_record(tmp_path: Path) -> None:
    port = free_port()
    with FakeLLM() as llm:
        llm.script(text("never delivered", delay=30))
        env = {**base_env(tmp_path, llm), "TURN_HEARTBEAT_SECONDS": "0.5"}
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
            history = httpx.get(f"{url}/chats/{chat_id}/messages").json()
            user, assistant = history["data"]
            # Its heartbeat stopped with the process: failed within a few heartbeats.
            assistant = settled(url, chat_id, assistant["id"])
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


GRACE_SECONDS = 3.0
SLACK_SECONDS = 1.5  # the interpreter's own exit, on a busy machine


def test_sigterm_drains_within_the_grace_and_stores_unfinished_turns_as_failed(
    tmp_path: Path,
) -> None:
    port = free_port()
    with FakeLLM() as llm:
        llm.default = text("far too slow", delay=60)
        env = {**base_env(tmp_path, llm), "SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS)}
        with server(env, port, tmp_path / "server.log") as process:
            url = f"http://127.0.0.1:{port}"
            chat_id = httpx.post(f"{url}/chats", json={}).json()["id"]
            events: list[str] = []
            answers: list[httpx.Response] = []

            def stream() -> None:
                with httpx.stream(
                    "POST",
                    f"{url}/chats/{chat_id}/messages?stream=true",
                    json={"content": QUESTION},
                    timeout=60,
                ) as response:
                    events.extend(
                        line.removeprefix("event: ")
                        for line in response.iter_lines()
                        if line.startswith("event: ")
                    )

            def ask() -> None:
                answers.append(
                    httpx.post(
                        f"{url}/chats/{chat_id}/messages", json={"content": QUESTION}, timeout=60
                    )
                )

            clients = [threading.Thread(target=t, daemon=True) for t in (stream, ask)]
            for client in clients:
                client.start()
            deadline = time.monotonic() + 20
            while len(llm.requests) < 2:
                assert time.monotonic() < deadline, "the turns never reached the model"
                time.sleep(0.05)
            signalled = time.monotonic()
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) in (0, -signal.SIGTERM)
            took = time.monotonic() - signalled
            for client in clients:
                client.join(timeout=10)
    assert took < GRACE_SECONDS + SLACK_SECONDS, f"shutdown took {took:.1f} s"
    # Both clients heard how their turn ended before the connection closed.
    assert events[0] == "message.created" and events[-1] == "error"
    [answer] = answers
    assert answer.status_code == 503 and "interrupted" in answer.json()["detail"]
    with sqlite3.connect(tmp_path / "qna.db") as db:
        stored = db.execute(
            "SELECT status, error FROM messages WHERE role = 'assistant'"
        ).fetchall()
    assert [status for status, _ in stored] == ["failed", "failed"]
    assert all(error.startswith("interrupted") for _, error in stored)
