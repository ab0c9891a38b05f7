"""Where `ask` and `chat` send questions: a running server over HTTP, or the agent in-process.

Both backends speak in the API's terms: chats and messages as JSON dicts, and a turn as the
Server-Sent Events of docs/api.md (`message.created`, `tool.call`, `tool.result`,
`message.delta`, then `message.completed` or `error`), so the terminal renders one shape.
Failures become `CliError`s that carry the exit code the command should end with.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any, Protocol

from qna_agent.cli.common import (
    EXIT_AUTH,
    EXIT_CONFIG,
    EXIT_FAILURE,
    CliError,
)

Event = tuple[str, dict[str, Any]]

# The API's principal when authentication is off: chats made with --local stay visible to a
# server started later on the same database.
LOCAL_OWNER = "anonymous"
HISTORY_PAGE = 200


class Backend(Protocol):
    """What the commands need from a service."""

    label: str

    async def check(self, chat_id: str | None) -> None:
        """Fail early (unreachable, refused key, unknown chat) before the first question."""

    async def create_chat(self, title: str | None) -> str:
        """A new chat's id."""

    async def delete_chat(self, chat_id: str) -> None:
        """Delete a chat (one made for a first question that was refused)."""

    def ask(self, chat_id: str, content: str) -> AsyncIterator[Event]:
        """Run one turn; its events as the SSE API names them."""

    async def history(self, chat_id: str) -> list[dict[str, Any]]:
        """The chat's messages, oldest first."""

    async def aclose(self) -> None:
        """Release connections."""


def problem_error(status: int, body: bytes, url: str) -> CliError:
    """A CliError for an HTTP error response (problem+json when the server sent one)."""
    try:
        problem = json.loads(body)
        detail = str(problem.get("detail") or problem.get("title") or "")
    except (ValueError, AttributeError):
        detail = body.decode(errors="replace").strip()[:200]
    detail = detail or f"HTTP {status}"
    if status in (401, 403):
        return CliError(
            f"the server refused the API key (HTTP {status}): {detail}. "
            "Pass --api-key or set QNA_API_KEY.",
            EXIT_AUTH,
        )
    if 400 <= status < 500:
        return CliError(f"{detail} (HTTP {status})", EXIT_CONFIG)
    return CliError(f"the server at {url} failed (HTTP {status}): {detail}", EXIT_FAILURE)


def parse_sse(lines: list[str]) -> Event | None:
    """One SSE frame (its lines, without the blank separator) as (event, data)."""
    event = "message"
    data: list[str] = []
    for line in lines:
        if not line or line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)
    if not data:
        return None
    return event, json.loads("\n".join(data))


def parse_chat_id(chat_id: str) -> uuid.UUID:
    """A chat id from the command line, or a usage error."""
    try:
        return uuid.UUID(chat_id)
    except ValueError:
        raise CliError(f"{chat_id!r} is not a chat id (a UUID)", EXIT_CONFIG) from None
