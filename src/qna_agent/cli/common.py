"""Helpers shared by the command groups: settings with clear errors, consoles, exit codes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from qna_agent.config import Settings, SettingsError, load_settings
from qna_agent.observability.logging import configure_logging

T = TypeVar("T")

out = Console()
err = Console(stderr=True)

EXIT_FAILURE = 1
EXIT_CONFIG = 2
# --- web page & CLI: exit codes of the commands that talk to a server (docs/cli.md) ---
EXIT_UNREACHABLE = 3
EXIT_AUTH = 4


def settings_or_exit(**overrides: Any) -> Settings:
    """The settings, or exit 2 with one line naming the wrong variable."""
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(EXIT_CONFIG) from None
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
