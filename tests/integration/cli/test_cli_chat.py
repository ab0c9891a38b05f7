"""`qna-agent ask` and `chat` through typer's runner, against a real server or --local.

The server is a real uvicorn server on loopback whose model is the fake OpenAI-compatible LLM,
so answers stream over two real HTTP hops. Exit codes are part of the contract (docs/cli.md).
"""

from __future__ import annotations

import json
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from qna_agent.chat.repository import insert_messages, new_message
from qna_agent.cli import app
from qna_agent.cli.local import LocalBackend
from qna_agent.db.ids import uuid7
from tests.fakes import FakeLLM, failure, text, tool_call
from tests.support.app import EXAMPLES, FILE_KEY, make_settings
from tests.support.live_server import live_server

pytestmark = pytest.mark.slow

runner = CliRunner()
QUESTION = "How long do I have to return an item?"
ANSWER = "You can return most items within 30 days of delivery [1]."


def script_answer(llm: FakeLLM, answer: str = ANSWER) -> None:
    """One turn: a knowledge-base search, then the answer citing passage 1."""
    llm.script(tool_call("search_knowledge_base", query="return window"), text(answer))


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("QNA_URL", "QNA_API_KEY", "NO_COLOR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def served(fake_llm: FakeLLM, tmp_path: Path) -> Iterator[str]:
    """A running server answering with the fake LLM; yields its URL."""
    settings = make_settings(
        tmp_path,
        llm_provider="openai",
        llm_base_url=fake_llm.base_url,
        llm_api_key="test-key",
        auth_mode="none",  # the page/CLI flows; API keys are tested in test_auth.py
        llm_max_retries=0,
        log_level="WARNING",
    )
    with live_server(settings) as url:
        yield url


def test_ask_streams_the_answer_then_its_sources(served: str, fake_llm: FakeLLM) -> None:
    script_answer(fake_llm)
    result = runner.invoke(app, ["ask", QUESTION, "--url", served])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(ANSWER)
    assert "Sources" in result.stdout
    assert "[1] Refund Policy > The standard return window (refund-policy.md" in result.stdout
    # Tool activity goes to stderr so stdout is just the answer; no colours off a terminal.
    assert "search_knowledge_base" in result.stderr
    assert "search_knowledge_base" not in result.stdout
    assert "\x1b[" not in result.output
    assert fake_llm.requests[-1]["stream"] is True  # the server streamed from the model


def test_ask_json_prints_the_stored_message(served: str, fake_llm: FakeLLM) -> None:
    script_answer(fake_llm)
    result = runner.invoke(app, ["ask", "--json", QUESTION], env={"QNA_URL": served})
    assert result.exit_code == 0, result.output
    message = json.loads(result.stdout)
    assert message["content"] == ANSWER
    assert message["status"] == "completed"
    assert message["citations"][0]["source"] == "refund-policy.md"
    history = httpx.get(f"{served}/chats/{message['chat_id']}/messages").json()["data"]
    assert [m["role"] for m in history] == ["user", "assistant"]
    chat = httpx.get(f"{served}/chats/{message['chat_id']}").json()
    assert chat["title"] == QUESTION


def test_ask_with_chat_continues_the_conversation(served: str, fake_llm: FakeLLM) -> None:
    script_answer(fake_llm)
    first = json.loads(runner.invoke(app, ["ask", "--json", QUESTION, "--url", served]).stdout)
    fake_llm.script(text("Yes, gift cards too."))
    again = runner.invoke(
        app, ["ask", "Does that hold for gift cards?", "--chat", first["chat_id"], "--url", served]
    )
    assert again.exit_code == 0, again.output
    assert "Yes, gift cards too." in again.stdout
    sent = [m["content"] for m in fake_llm.requests[-1]["messages"] if m["role"] == "user"]
    assert sent == [QUESTION, "Does that hold for gift cards?"]


def test_exit_codes_say_what_went_wrong(served: str, fake_llm: FakeLLM) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    unreachable = runner.invoke(app, ["ask", QUESTION, "--url", closed])
    assert unreachable.exit_code == 3
    assert "cannot reach the server" in unreachable.stderr

    fake_llm.script(failure(500))
    failed = runner.invoke(app, ["ask", QUESTION, "--url", served])
    assert failed.exit_code == 1
    assert "error:" in failed.stderr

    unknown = runner.invoke(app, ["ask", QUESTION, "--url", served, "--chat", str(uuid.uuid4())])
    assert unknown.exit_code == 2
    assert "not found" in unknown.stderr

    assert runner.invoke(app, ["ask", "  ", "--url", served]).exit_code == 2
    assert runner.invoke(app, ["ask", QUESTION, "--url", "ftp://x"]).exit_code == 2
    assert runner.invoke(app, ["ask"]).exit_code == 2  # typer's own usage error


def test_a_refused_key_exits_4_and_a_good_key_works(fake_llm: FakeLLM, tmp_path: Path) -> None:
    script_answer(fake_llm)
    settings = make_settings(
        tmp_path, llm_provider="openai", llm_base_url=fake_llm.base_url, llm_max_retries=0
    )
    with live_server(settings) as served:
        result = runner.invoke(app, ["ask", QUESTION, "--url", served, "--api-key", "wrong-key"])
        assert result.exit_code == 4
        assert "refused the API key" in result.stderr
        good = runner.invoke(app, ["ask", QUESTION, "--url", served], env={"QNA_API_KEY": FILE_KEY})
        assert good.exit_code == 0, good.output


def test_chat_session_with_commands(served: str, fake_llm: FakeLLM) -> None:
    script_answer(fake_llm)
    script_answer(fake_llm, "A second chat's answer [1].")
    session = "\n".join(
        [QUESTION, "/history", "/new", "/history", "/bogus", "Another question", "/quit"]
    )
    result = runner.invoke(app, ["chat", "--url", served], input=session + "\n")
    assert result.exit_code == 0, result.output
    output = result.stdout
    assert f"Chatting with {served}" in output
    assert output.count(ANSWER) == 2  # streamed, then shown again by /history
    assert f"you> {QUESTION}" in output
    assert "No messages yet" in output
    assert "Unknown command /bogus" in output
    assert "A second chat's answer [1]." in output
    chats = httpx.get(f"{served}/chats").json()["data"]
    assert [c["title"] for c in chats] == ["Another question", QUESTION]


def test_chat_ends_cleanly_at_end_of_input(served: str) -> None:
    result = runner.invoke(app, ["chat", "--url", served], input="")
    assert result.exit_code == 0


def test_local_ask_and_chat_share_the_database_with_the_server(
    fake_llm: FakeLLM, tmp_path: Path
) -> None:
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'qna.db'}",
        "KNOWLEDGE_DIR": str(EXAMPLES),
        "LLM_BASE_URL": fake_llm.base_url,
        "LLM_API_KEY": "test-key",
        "LLM_MAX_RETRIES": "0",
    }
    script_answer(fake_llm)
    asked = runner.invoke(app, ["ask", "--local", "--json", QUESTION], env=env)
    assert asked.exit_code == 0, asked.output
    message = json.loads(asked.stdout)
    assert message["content"] == ANSWER
    assert message["citations"][0]["heading"] == "Refund Policy > The standard return window"

    fake_llm.script(text("Only unused items [1]."))
    chatted = runner.invoke(
        app,
        ["chat", "--local", "--chat", message["chat_id"]],
        env=env,
        input="Any conditions?\n/history\n/quit\n",
    )
    assert chatted.exit_code == 0, chatted.output
    assert "Only unused items [1]." in chatted.stdout
    assert f"you> {QUESTION}" in chatted.stdout  # /history shows the earlier turn

    settings = make_settings(
        tmp_path, llm_provider="extractive", log_level="WARNING", auth_mode="none"
    )
    with live_server(settings) as url:
        history = httpx.get(f"{url}/chats/{message['chat_id']}/messages").json()["data"]
    assert [m["content"] for m in history if m["role"] == "user"] == [QUESTION, "Any conditions?"]
    assert all(m["status"] == "completed" for m in history)


def test_local_with_an_unknown_chat_exits_2(fake_llm: FakeLLM, tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'qna.db'}",
        "KNOWLEDGE_DIR": str(EXAMPLES),
        "LLM_PROVIDER": "extractive",
    }
    result = runner.invoke(app, ["ask", "--local", "--chat", str(uuid.uuid4()), "x"], env=env)
    assert result.exit_code == 2
    assert "not found" in result.stderr


def test_every_command_has_an_example() -> None:
    def leaves(command: Any, path: list[str]) -> Iterator[list[str]]:
        subcommands = getattr(command, "commands", None)  # a group
        if subcommands:
            for name, sub in subcommands.items():
                yield from leaves(sub, [*path, name])
        else:
            yield path

    paths = list(leaves(typer.main.get_command(app), []))
    assert {"ask", "chat", "serve", "version"} <= {p[0] for p in paths}
    for path in paths:
        shown = runner.invoke(app, [*path, "--help"])
        assert shown.exit_code == 0, path
        assert "Example:" in shown.stdout, f"`qna-agent {' '.join(path)} --help` has no example"


async def test_local_history_reads_every_page(tmp_path: Path) -> None:
    empty = tmp_path / "no-documents"
    empty.mkdir()
    settings = make_settings(tmp_path, knowledge_dir=empty, kb_embedder="none")
    backend = await LocalBackend.open(settings)
    try:
        chat_id = await backend.create_chat("long")
        rows = [
            new_message(
                id=uuid7(),
                chat_id=uuid.UUID(chat_id),
                role="user",
                content=f"question {n}",
                status="completed",
            )
            for n in range(450)  # more than two pages of 200
        ]
        await backend.services.database.write(lambda conn: insert_messages(conn, rows))
        history = await backend.history(chat_id)
    finally:
        await backend.aclose()
    assert [m["content"] for m in history] == [f"question {n}" for n in range(450)]


def test_ask_says_when_the_answer_was_cut(served: str, fake_llm: FakeLLM) -> None:
    fake_llm.script(text("You have thirty", finish_reason="length"))
    result = runner.invoke(app, ["ask", QUESTION, "--url", served])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("You have thirty")
    assert "the answer was cut at the model's output limit" in result.stderr
