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

import httpx

from qna_agent.cli.common import (
    EXIT_AUTH,
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_UNREACHABLE,
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


class RemoteBackend:
    """A running qna-agent server."""

    def __init__(self, url: str, api_key: str | None, *, timeout: float) -> None:
        self.url = url.rstrip("/")
        self.label = self.url
        headers = {"User-Agent": "qna-agent-cli"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        # Reads may be quiet for long: the server sends keep-alives while a turn thinks.
        self._client = httpx.AsyncClient(
            base_url=self.url, headers=headers, timeout=httpx.Timeout(timeout, connect=5.0)
        )

    def _transport_error(self, exc: httpx.TransportError) -> CliError:
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
            return CliError(
                f"cannot reach the server at {self.url} ({type(exc).__name__}). "
                "Is `qna-agent serve` running? Set --url or QNA_URL, or use --local.",
                EXIT_UNREACHABLE,
            )
        return CliError(f"the connection to {self.url} broke: {type(exc).__name__} {exc}")

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self._transport_error(exc) from None
        if response.is_error:
            raise problem_error(response.status_code, response.content, self.url)
        return response

    async def check(self, chat_id: str | None) -> None:
        if chat_id is None:
            await self._request("GET", "/chats", params={"limit": 1})
        else:
            await self._request("GET", f"/chats/{chat_id}")

    async def create_chat(self, title: str | None) -> str:
        response = await self._request("POST", "/chats", json={"title": title})
        return str(response.json()["id"])

    async def ask(self, chat_id: str, content: str) -> AsyncIterator[Event]:
        request = self._client.build_request(
            "POST",
            f"/chats/{chat_id}/messages",
            json={"content": content},
            headers={"Accept": "text/event-stream"},
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise self._transport_error(exc) from None
        try:
            if response.is_error:
                raise problem_error(response.status_code, await response.aread(), self.url)
            frame: list[str] = []
            async for line in response.aiter_lines():
                if line:
                    frame.append(line)
                    continue
                event = parse_sse(frame)
                frame = []
                if event is not None:
                    yield event
        except httpx.TransportError as exc:
            raise self._transport_error(exc) from None
        finally:
            await response.aclose()

    async def history(self, chat_id: str) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": HISTORY_PAGE}
            if after:
                params["after"] = after
            page = (await self._request("GET", f"/chats/{chat_id}/messages", params=params)).json()
            messages.extend(page["data"])
            after = page.get("next_cursor")
            if not page.get("has_more") or not after:
                return messages

    async def aclose(self) -> None:
        await self._client.aclose()


def parse_chat_id(chat_id: str) -> uuid.UUID:
    """A chat id from the command line, or a usage error."""
    try:
        return uuid.UUID(chat_id)
    except ValueError:
        raise CliError(f"{chat_id!r} is not a chat id (a UUID)", EXIT_CONFIG) from None
