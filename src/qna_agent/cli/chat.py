"""`qna-agent ask` and `qna-agent chat`: questions from the terminal, answers streamed back.

Both talk to a running server (`--url`/QNA_URL, `--api-key`/QNA_API_KEY) or, with `--local`,
run the agent in this process on DATABASE_URL. Answers go to stdout; tool activity and errors
go to stderr, so `qna-agent ask "..." > answer.txt` keeps just the answer and its sources.
Exit codes: 0 answered, 1 the turn or server failed, 2 usage or configuration error,
3 the server cannot be reached, 4 the server refused the API key (docs/cli.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Awaitable, Coroutine
from typing import Annotated, Any, TypeVar

import typer
from rich.markup import escape

from qna_agent.cli.backends import Backend
from qna_agent.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    CliError,
    err,
    out,
)
from qna_agent.cli.printing import TurnPrinter, print_citations

T = TypeVar("T")

DEFAULT_URL = "http://127.0.0.1:8000"
TITLE_CHARS = 80

UrlOption = Annotated[
    str,
    typer.Option("--url", envvar="QNA_URL", help="Server to talk to.", show_envvar=True),
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="QNA_API_KEY",
        help="API key sent as `Authorization: Bearer`.",
        show_default=False,
    ),
]
LocalOption = Annotated[
    bool,
    typer.Option("--local", help="Run the agent in this process on DATABASE_URL (no server)."),
]
ChatOption = Annotated[
    str | None,
    typer.Option("--chat", help="Continue this chat (its id) instead of starting a new one."),
]
TimeoutOption = Annotated[
    float,
    typer.Option(min=1, help="Seconds to wait for the server when it says nothing at all."),
]


def title_of(question: str) -> str:
    """A chat title from its first question."""
    line = " ".join(question.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1] + "\u2026"


async def open_backend(
    *, local: bool, url: str, api_key: str | None, wait_seconds: float
) -> Backend:
    """The server at `url`, or the service built in this process."""
    if local:
        from qna_agent.cli.common import settings_or_exit
        from qna_agent.cli.local import LocalBackend
        from qna_agent.observability.logging import configure_logging

        settings = settings_or_exit()
        # Logs go to stderr and only when they matter: stdout is the answer.
        configure_logging("DEBUG" if settings.log_level == "DEBUG" else "WARNING", "console")
        with err.status("Preparing the local database and knowledge base..."):
            return await LocalBackend.open(settings)
    if not url.startswith(("http://", "https://")):
        raise CliError(f"--url must start with http:// or https://, not {url!r}", EXIT_CONFIG)
    from qna_agent.cli.remote import RemoteBackend  # httpx is slow to import: see remote.py

    return RemoteBackend(url, api_key, timeout=wait_seconds)


def run_interruptibly(loop: asyncio.AbstractEventLoop, work: Coroutine[Any, Any, T]) -> T:
    """Run `work` on `loop`; Ctrl-C cancels it (its cleanup runs) and raises KeyboardInterrupt."""
    task = loop.create_task(work)
    handled = False
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not main thread
        loop.add_signal_handler(signal.SIGINT, task.cancel)
        handled = True
    try:
        return loop.run_until_complete(task)
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    finally:
        if handled:
            loop.remove_signal_handler(signal.SIGINT)


async def run_turn(backend: Backend, chat_id: str, question: str, printer: TurnPrinter) -> None:
    """Send one question and feed its events to the printer. A question refused before its
    turn started raises its CliError alone (the caller prints it once)."""
    started = False
    try:
        async for event, data in backend.ask(chat_id, question):
            started = True
            printer.handle(event, data)
    except BaseException as exc:
        if started or not isinstance(exc, CliError):
            printer.finish()
        raise
    printer.finish()


def first_turn(session: Session, question: str, printer: TurnPrinter) -> str:
    """Start a chat with `question`; if the question is refused before anything of the turn
    was stored (too long, over budget), the new chat is deleted: no empty chat is left."""
    chat_id = session.run(session.backend.create_chat(title_of(question)))
    try:
        session.run(run_turn(session.backend, chat_id, question, printer))
    except CliError:
        if printer.message is None:
            session.run(session.backend.delete_chat(chat_id))
        raise
    return chat_id


class Session:
    """An event loop and a backend for the life of one command."""

    def __init__(self, *, local: bool, url: str, api_key: str | None, timeout: float) -> None:
        self.loop = asyncio.new_event_loop()
        try:
            self.backend = self.run(
                open_backend(local=local, url=url, api_key=api_key, wait_seconds=timeout)
            )
        except BaseException:
            self.loop.close()
            raise

    def run(self, work: Awaitable[T]) -> T:
        """Run a coroutine of this session; Ctrl-C interrupts it."""

        async def wrapper() -> T:
            return await work

        return run_interruptibly(self.loop, wrapper())

    def close(self) -> None:
        """Close the backend (a local turn still running finishes first), then the loop."""
        try:
            self.loop.run_until_complete(self.backend.aclose())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()


def ask(
    question: Annotated[str, typer.Argument(help="The question, in quotes.", show_default=False)],
    chat: ChatOption = None,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
    local: LocalOption = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the answer message as JSON (no streaming).")
    ] = False,
    timeout: TimeoutOption = 300.0,
) -> None:
    """Ask one question; the answer streams to the terminal, then its sources.

    Example: qna-agent ask "How long do I have to return an item?"

    Example: qna-agent ask --local "Do you ship to Canada?"

    Example: qna-agent ask --json "What is the warranty?" | jq -r .content

    Exit codes: 0 answered, 1 the turn or server failed, 2 usage error,
    3 server unreachable, 4 key refused.
    """
    if not question.strip():
        err.print("[red]error:[/] the question is empty")
        raise typer.Exit(EXIT_CONFIG)
    session = Session(local=local, url=url, api_key=api_key, timeout=timeout)
    printer = TurnPrinter(stream=not as_json)
    try:
        session.run(session.backend.check(chat))
        if chat is None:
            first_turn(session, question, printer)
        else:
            session.run(run_turn(session.backend, chat, question, printer))
    except KeyboardInterrupt:
        err.print("[yellow]stopped[/]: the server still finishes and stores the answer")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        session.close()
    if as_json and printer.message is not None:
        sys.stdout.write(json.dumps(printer.message, ensure_ascii=False, indent=2) + "\n")
        if printer.error is not None:
            err.print(f"[red]error:[/] {escape(printer.error)}")
    if not printer.completed:
        raise typer.Exit(EXIT_FAILURE)


HELP_TEXT = (
    "Type a question and press Enter. Commands: [bold]/new[/] starts a new chat, "
    "[bold]/history[/] shows this chat, [bold]/quit[/] (or Ctrl-D) leaves. "
    "Ctrl-C stops an answer."
)


def show_history(session: Session, chat_id: str | None) -> None:
    """Print the current chat's messages."""
    if chat_id is None:
        out.print("[dim]No messages yet: this chat starts with your next question.[/]")
        return
    for message in session.run(session.backend.history(chat_id)):
        if message["role"] == "user":
            out.print(f"[bold cyan]you>[/] {escape(message['content'])}", highlight=False)
            continue
        status = message.get("status")
        if status == "failed":
            out.print(f"[red]agent (failed):[/] {escape(message.get('error') or '')}")
        else:
            label = "agent" if status == "completed" else f"agent ({status})"
            out.print(f"[bold green]{label}>[/] {escape(message['content'])}", highlight=False)
            print_citations(message.get("citations") or [])


def enable_line_editing() -> None:
    """Arrow keys and input history at the prompt, when the terminal has readline."""
    if sys.stdin.isatty():
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401  (importing it is what turns it on)


QUIT = "quit"


def run_command(session: Session, command: str, chat_id: str | None) -> str | None:
    """Carry out a /command; returns the chat to continue (None: a new one) or QUIT."""
    if command in ("/quit", "/exit", "/q"):
        return QUIT
    if command == "/new":
        out.print("[dim]A new chat starts with your next question.[/]")
        return None
    if command == "/history":
        try:
            show_history(session, chat_id)
        except CliError as exc:
            err.print(f"[red]error:[/] {escape(exc.message)}")
    elif command == "/help":
        out.print(HELP_TEXT)
    else:
        out.print(f"Unknown command {escape(command)}. {HELP_TEXT}")
    return chat_id


def repl(session: Session, chat_id: str | None) -> int:
    """The interactive loop; returns the exit code."""
    out.print(f"Chatting with {escape(session.backend.label)}. {HELP_TEXT}", highlight=False)
    if chat_id:
        out.print(f"[dim]Continuing chat {chat_id}; /history shows it.[/]")
    while True:
        try:
            text = out.input("[bold cyan]you>[/] ").strip()
        except EOFError:
            out.print()
            return 0
        except KeyboardInterrupt:
            out.print("\n[dim](/quit leaves)[/]")
            continue
        if text.startswith("/"):
            chat_id = run_command(session, text.split()[0].lower(), chat_id)
            if chat_id == QUIT:
                return 0
            continue
        if not text:
            continue
        try:
            if chat_id is None:
                chat_id = first_turn(session, text, TurnPrinter())
            else:
                session.run(run_turn(session.backend, chat_id, text, TurnPrinter()))
        except CliError as exc:
            err.print(f"[red]error:[/] {escape(exc.message)}")
        except KeyboardInterrupt:
            err.print("[yellow]stopped[/]: the answer still finishes and is stored (/history)")


def chat(
    chat: ChatOption = None,
    url: UrlOption = DEFAULT_URL,
    api_key: ApiKeyOption = None,
    local: LocalOption = False,
    timeout: TimeoutOption = 300.0,
) -> None:
    """Chat interactively: answers stream in, the agent remembers the conversation.

    Inside: /new starts a new chat, /history shows this one, /quit (or Ctrl-D) leaves,
    Ctrl-C stops an answer.

    Example: qna-agent chat

    Example: QNA_URL=https://qna.example.com QNA_API_KEY=... qna-agent chat

    Example: qna-agent chat --local --chat 0193a5f2-7c1e-7b3a-9d2e-5f8a1c4b6e01
    """
    session = Session(local=local, url=url, api_key=api_key, timeout=timeout)
    try:
        session.run(session.backend.check(chat))
        enable_line_editing()
        code = repl(session, chat)
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_INTERRUPTED) from None
    finally:
        session.close()
    raise typer.Exit(code)
