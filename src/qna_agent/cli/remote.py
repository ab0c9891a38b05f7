"""The backend of `ask` and `chat` that talks to a running server over HTTP.

Its own module, imported only by the commands that need it: httpx pulls in its command
line's dependencies (pygments among them), about 100 ms of every `qna-agent serve` start.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from qna_agent.cli.backends import HISTORY_PAGE, Event, parse_sse, problem_error
from qna_agent.cli.common import EXIT_UNREACHABLE, CliError


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

    async def delete_chat(self, chat_id: str) -> None:
        await self._request("DELETE", f"/chats/{chat_id}")

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
