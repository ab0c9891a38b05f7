"""Helpers shared by the command groups: settings with clear errors, consoles, exit codes.

Every command runs inside `ReportingGroup`, which turns a failure into one line on stderr and
an exit code that says what kind of failure it was (docs/cli.md):

| code | meaning |
|---|---|
| 1 | the work failed (a refused file, a failed turn, an unexpected error) |
| 2 | usage or configuration error (a wrong setting, option or argument) |
| 3 | a database or server that cannot be reached |
| 4 | a server that refused the API key |
| 130 | interrupted (Ctrl-C) |

`QNA_DEBUG=1` lets the exception through, traceback and all.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sqlite3
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any, TypeVar

import typer
from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from sqlalchemy import exc as sa_exc
from typer.core import TyperGroup

from qna_agent.config import Settings, SettingsError, env_names, load_settings
from qna_agent.errors import QnaError
from qna_agent.observability.logging import configure_logging

T = TypeVar("T")

EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_UNREACHABLE = 3
EXIT_AUTH = 4
EXIT_INTERRUPTED = 130  # the shell's convention for Ctrl-C

# Wide enough that no line is ever broken: a pipe or a file gets each line whole.
UNWRAPPED_WIDTH = 100_000


class ShellConsole(Console):
    """A console that wraps lines to the terminal's width, and never when output is piped.

    Rich assumes 80 columns without a terminal, which splits error lines, sources and JSON
    strings in `qna-agent ... | grep` or a log file.
    """

    @property
    def size(self) -> ConsoleDimensions:
        """The terminal's size; without a terminal, no width limit (COLUMNS or not)."""
        size = super().size
        if self.is_terminal:
            return size
        return ConsoleDimensions(UNWRAPPED_WIDTH, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)  # type: ignore[attr-defined]


out = ShellConsole()
err = ShellConsole(stderr=True)


def examples(*commands: str) -> str:
    """A command group's `--help` epilog: one example command per line."""
    return "Examples:\n\n" + "\n\n".join(commands)


class CliError(Exception):
    """A failure to report in one line, with the exit code it means."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


@cache
def _variable_names() -> frozenset[str]:
    names = {n for f, info in Settings.model_fields.items() for n in env_names(f, info)}
    return frozenset(names | {f"{name}_FILE" for name in names})


def _names_a_setting(message: str) -> bool:
    """Whether a message starts with a setting's variable, as configuration errors here do."""
    first = re.match(r"[A-Z][A-Z0-9_]*", message)
    return first is not None and first.group() in _variable_names()


def _database_failure(exc: sa_exc.DBAPIError) -> CliError:
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
    if exc.statement is None:  # raised while connecting
        return CliError(
            f"cannot open the database ({reason}); check DATABASE_URL and that the "
            "database server is running",
            EXIT_UNREACHABLE,
        )
    return CliError(f"the database refused the command: {reason}", EXIT_FAILURE)


def describe_failure(exc: Exception) -> CliError:
    """The one line and exit code that report `exc`, an exception a command let through."""
    if isinstance(exc, CliError):
        return exc
    if isinstance(exc, SettingsError):
        return CliError(str(exc), EXIT_CONFIG)
    if isinstance(exc, QnaError):
        return CliError(exc.detail, EXIT_FAILURE)
    if isinstance(exc, sa_exc.DBAPIError):
        return _database_failure(exc)
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror | sa_exc.TimeoutError):
        return CliError(
            f"cannot connect ({type(exc).__name__}: {exc}); check DATABASE_URL (and REDIS_URL) "
            "and that the server is running",
            EXIT_UNREACHABLE,
        )
    if isinstance(exc, sqlite3.Error):
        return CliError(f"SQLite: {exc}", EXIT_FAILURE)
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return CliError(f"{exc.strerror or exc}{where}", EXIT_FAILURE)
    if isinstance(exc, ValueError) and _names_a_setting(str(exc)):
        return CliError(f"invalid configuration: {exc}", EXIT_CONFIG)
    return CliError(
        f"unexpected {type(exc).__name__}: {exc} (QNA_DEBUG=1 shows the traceback)", EXIT_FAILURE
    )


def report(failure: CliError) -> typer.Exit:
    """Print a failure's line on stderr; the Exit to raise with its code."""
    err.print(f"[red]error:[/] {escape(failure.message)}", highlight=False)
    return typer.Exit(failure.exit_code)


class ReportingGroup(TyperGroup):
    """The root command: any failure of a command becomes one line and a meaningful exit code."""

    def invoke(self, ctx: Any) -> Any:  # Any: typer's own (vendored) click Context is private
        """Run the command; report what it lets through."""
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise  # typer's own: usage errors (exit 2), --help, typer.Exit(code)
        except KeyboardInterrupt:
            err.print("[yellow]interrupted[/]")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as exc:
            if os.environ.get("QNA_DEBUG") == "1":
                raise
            raise report(describe_failure(exc)) from None


def settings_or_exit(**overrides: Any) -> Settings:
    """The settings, or exit 2 with one line naming the wrong variable."""
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        raise report(CliError(str(exc), EXIT_CONFIG)) from None
    configure_logging(settings.log_level, settings.log_format)
    return settings


def run(factory: Callable[[], Awaitable[T]]) -> T:
    """Run an async job from a command."""
    return asyncio.run(factory())  # type: ignore[arg-type]


async def with_services(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """Build the services (migrating first when enabled), run `work`, close them."""
    from qna_agent.container import build_services
    from qna_agent.db import migrate

    services = build_services(settings)
    try:
        if settings.auto_migrate:
            await migrate.upgrade(services.database)
        return await work(services)
    finally:
        await services.close()
