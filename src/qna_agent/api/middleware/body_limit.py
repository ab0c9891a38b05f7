"""The request body limit, enforced as the bytes arrive.

Pure ASGI (no BaseHTTPMiddleware) so streaming responses pass through untouched.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qna_agent.api.errors import PROBLEM_MEDIA_TYPE, problem_document
from qna_agent.errors import PayloadTooLarge

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_TRANSFER_ENCODING = b"transfer-encoding"


class BodyLimitMiddleware:
    """Refuse a request body larger than its limit with a 413 problem, counting the bytes as
    they arrive: a chunked body declares no length, so the header alone proves nothing.

    A JSON body (POST, PUT, PATCH) is read here, bounded, before anything parses it. The paths
    of `large_paths` (uploads) have their own limit and are passed through as they stream, so
    the route authenticates first and reads the body itself: reading past the limit raises
    `PayloadTooLarge`, answered by the error table. Requests of other methods are passed
    through the same way. A response that starts before the body was read to its end closes
    the connection, so a refused client stops sending instead of having the rest discarded.
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, large_paths: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.large_paths = large_paths or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        large = self.large_paths.get(scope["path"])
        # An upload's limit is its file's: allow the multipart framing around it.
        limit = self.max_bytes if large is None else large + MULTIPART_FRAMING_BYTES
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await refuse(scope, send, limit)
            return
        if large is None and scope["method"] in _BODY_METHODS:
            await self._buffered(scope, receive, send)
        else:
            has_body = declared not in (None, b"0") or _TRANSFER_ENCODING in headers
            await self._streamed(scope, receive, send, limit, finished=not has_body)

    async def _buffered(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await refuse(scope, send, self.max_bytes)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _streamed(
        self, scope: Scope, receive: Receive, send: Send, limit: int, *, finished: bool
    ) -> None:
        size = 0

        async def counted() -> Message:
            nonlocal size, finished
            message = await receive()
            if message["type"] == "http.request":
                size += len(message.get("body", b""))
                finished = not message.get("more_body", False)
                if size > limit:
                    raise PayloadTooLarge(too_large(limit))
            return message

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start" and not finished:
                message["headers"] = [*message.get("headers", []), (b"connection", b"close")]
            await send(message)

        await self.app(scope, counted, closing)


MULTIPART_FRAMING_BYTES = 65536


def too_large(limit: int) -> str:
    """The `detail` of a 413."""
    return f"request body larger than {limit} bytes"


async def refuse(scope: Scope, send: Send, limit: int) -> None:
    """Answer 413 with the same problem the error table gives, and close the connection."""
    body = json.dumps(problem_document(413, too_large(limit), instance=scope.get("path"))).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
