"""`qna-agent chat` in a real pseudo-terminal, as a person would use it: a prompt, colours,
streamed answers with sources, /history, Ctrl-C to stop an answer, /quit."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes import FakeLLM, text, tool_call
from tests.support.app import make_settings
from tests.support.live_server import live_server

pytestmark = pytest.mark.slow

QUESTION = "How long do I have to return an item?"
ANSWER = "You can return most items within 30 days of delivery [1]."
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Terminal:
    """A command running on a pseudo-terminal, with everything it printed so far."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        master, slave = pty.openpty()
        self.master = master
        self.process = subprocess.Popen(
            args, stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True
        )
        os.close(slave)
        self.raw = ""

    @property
    def plain(self) -> str:
        """The output without escape sequences."""
        return ANSI.sub("", self.raw).replace("\r\n", "\n")

    def expect(self, pattern: str, timeout: float = 20.0, *, after: int = 0) -> int:
        """Wait until `pattern` shows (past plain offset `after`); returns where it ends."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.plain.find(pattern, after)
            if found >= 0:
                return found + len(pattern)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{pattern!r} never appeared; the screen:\n{self.plain}")
            ready, _, _ = select.select([self.master], [], [], min(remaining, 0.5))
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # the program ended and closed the terminal
                    chunk = b""
                if not chunk and self.process.poll() is not None:
                    raise AssertionError(f"exited before {pattern!r}; the screen:\n{self.plain}")
                self.raw += chunk.decode(errors="replace")

    def type(self, line: str) -> None:
        os.write(self.master, line.encode() + b"\r")

    def close(self) -> int:
        try:
            return self.process.wait(timeout=20)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            os.close(self.master)


@pytest.fixture
def terminal_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QNA_", "NO_COLOR"))}
    env.update(TERM="xterm-256color", COLUMNS="120", LINES="40", HOME=str(tmp_path))
    return env


@pytest.fixture
def served(fake_llm: FakeLLM, tmp_path: Path) -> Iterator[str]:
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


def test_chat_in_a_terminal(served: str, fake_llm: FakeLLM, terminal_env: dict[str, str]) -> None:
    fake_llm.script(
        tool_call("search_knowledge_base", query="return window"),
        text(ANSWER),
        text("This answer arrives after Ctrl-C.", delay=1.5),
    )
    term = Terminal([sys.executable, "-m", "qna_agent", "chat", "--url", served], terminal_env)
    try:
        at = term.expect("you> ")
        assert f"Chatting with {served}" in term.plain
        term.type(QUESTION)
        at = term.expect(ANSWER, after=at)
        at = term.expect("[1] Refund Policy > The standard return window", after=at)
        at = term.expect("you> ", after=at)
        # On a terminal there is colour (the prompt and the sources' numbers).
        assert re.search(r"\x1b\[[0-9;]*3[0-9]m", term.raw), "no colours on a terminal"

        term.type("Is that the same for sale items?")
        time.sleep(0.5)  # the turn is waiting for the slow model
        term.process.send_signal(signal.SIGINT)
        at = term.expect("stopped", after=at)
        at = term.expect("you> ", after=at)

        term.type("/history")
        at = term.expect(f"you> {QUESTION}", after=at)
        at = term.expect(f"agent> {ANSWER}", after=at)
        term.type("/quit")
        assert term.close() == 0
    finally:
        if term.process.poll() is None:
            term.process.kill()
    # The interrupted turn still finished on the server and was stored.
    chat_id = httpx.get(f"{served}/chats").json()["data"][0]["id"]
    deadline = time.monotonic() + 10
    while True:
        history = httpx.get(f"{served}/chats/{chat_id}/messages").json()["data"]
        if history[-1]["status"] != "in_progress" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert history[-1]["content"] == "This answer arrives after Ctrl-C."


def test_no_color_is_respected(
    served: str, fake_llm: FakeLLM, terminal_env: dict[str, str]
) -> None:
    fake_llm.script(tool_call("search_knowledge_base", query="return window"), text(ANSWER))
    term = Terminal(
        [sys.executable, "-m", "qna_agent", "ask", QUESTION, "--url", served],
        {**terminal_env, "NO_COLOR": "1"},
    )
    term.expect("Sources")
    assert term.close() == 0
    assert not re.search(r"\x1b\[[0-9;]*3[0-9]m", term.raw)
