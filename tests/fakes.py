"""The fakes the tests talk to instead of real models, in one place.

- `FakeLLM`: a real HTTP server speaking the OpenAI Chat Completions protocol. Each test scripts
  the replies: text, tool calls, HTTP errors or delays, in order. Requests are recorded so tests
  can check what the service sent. Streaming follows the wire format: role delta, content
  pieces, refusal pieces, tool-call fragments by index, finish reason, a usage chunk when
  `stream_options.include_usage` is set, then `data: [DONE]`.
- `running_embeddings_server`: a real HTTP server speaking the OpenAI embeddings wire format, for
  tests of `KB_EMBEDDER=openai`: deterministic vectors, and an outage at will (`status`,
  `delay_s`).
- `ScriptedModel`: a `ChatModel` in process that is a function from the conversation to a
  response, for tests of the loop without HTTP.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from qna_agent.agent.types import ChatMessage, ModelResponse, TextDelta, ToolSpec


@dataclass
class Reply:
    """One scripted answer of the fake model."""

    content: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0
    prompt_tokens: int = 50
    completion_tokens: int = 10
    headers: dict[str, str] = field(default_factory=dict)
    # Streamed replies only: after the content, an error event instead of the end of the answer.
    stream_error: str | None = None
    # What the model says it stopped for; None: "tool_calls" with tool calls, else "stop".
    finish_reason: str | None = None
    # A refusal, sent apart from the content as `message.refusal` (streamed: `delta.refusal`).
    refusal: str | None = None

    @property
    def finish(self) -> str:
        """The finish reason sent on the wire."""
        return self.finish_reason or ("tool_calls" if self.tool_calls else "stop")


def text(content: str, **kwargs: Any) -> Reply:
    """A plain answer."""
    return Reply(content=content, **kwargs)


def tool_call(name: str, **arguments: Any) -> Reply:
    """A reply asking for one tool call."""
    return Reply(tool_calls=[(name, arguments)])


def failure(status: int = 500, **kwargs: Any) -> Reply:
    """An HTTP error."""
    return Reply(status=status, **kwargs)


class FakeLLM:
    """The server and its script. Use `with FakeLLM() as llm:` and `llm.script(...)`."""

    def __init__(self, model: str = "fake-model") -> None:
        self.model = model
        self.replies: list[Reply] = []
        self.default: Reply | None = None
        self.requests: list[dict[str, Any]] = []
        self.request_headers: list[dict[str, str]] = []  # lower-case names, per request
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._calls = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        """The `/v1` URL to configure as LLM_BASE_URL."""
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *replies: Reply) -> None:
        """Replies to give, in order."""
        with self._lock:
            self.replies.extend(replies)

    def _next(self, body: dict[str, Any], headers: dict[str, str]) -> Reply:
        with self._lock:
            self.requests.append(body)
            self.request_headers.append(headers)
            self._calls += 1
            if self.replies:
                return self.replies.pop(0)
            if self.default is not None:
                return self.default
        return Reply(status=500, content="fake LLM: no reply scripted")

    async def _completions(self, request: Request) -> Response:
        body = await request.json()
        reply = self._next(body, dict(request.headers))
        if reply.delay:
            await self._pause(reply.delay)
        if reply.status != 200:
            return JSONResponse(
                {"error": {"message": reply.content or "scripted failure", "type": "server_error"}},
                status_code=reply.status,
                headers=reply.headers,
            )
        call_id = f"chatcmpl-{self._calls}"
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(
                self._stream(reply, call_id, include_usage), media_type="text/event-stream"
            )
        message: dict[str, Any] = {
            "role": "assistant",
            "content": reply.content or None,
            "refusal": reply.refusal,
        }
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": f"call_{self._calls}_{i}",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps(args)},
                }
                for i, (name, args) in enumerate(reply.tool_calls)
            ]
        return JSONResponse(
            {
                "id": call_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": self.model,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": reply.finish,
                    }
                ],
                "usage": self._usage(reply),
            }
        )

    async def _pause(self, seconds: float) -> None:
        """Sleep, but no longer than the server runs: the server waits for its open requests
        when it stops, so a long scripted delay would hold up the test's teardown."""
        await asyncio.to_thread(self._stopping.wait, seconds)

    @staticmethod
    def _usage(reply: Reply) -> dict[str, int]:
        return {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        }

    async def _stream(self, reply: Reply, call_id: str, include_usage: bool) -> AsyncIterator[str]:
        def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
            data = {
                "id": call_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(data)}\n\n"

        yield chunk({"role": "assistant", "content": ""})
        words = reply.content.split(" ")
        for i, word in enumerate(words):
            if word or i:
                yield chunk({"content": word if i == len(words) - 1 else word + " "})
            await asyncio.sleep(0)
        if reply.refusal:
            pieces = reply.refusal.split(" ")
            for i, piece in enumerate(pieces):
                yield chunk({"refusal": piece if i == len(pieces) - 1 else piece + " "})
        if reply.stream_error is not None:
            yield f"data: {json.dumps({'error': {'message': reply.stream_error}})}\n\n"
            return
        for index, (name, args) in enumerate(reply.tool_calls):
            arguments = json.dumps(args)
            half = len(arguments) // 2
            yield chunk(
                {
                    "tool_calls": [
                        {
                            "index": index,
                            "id": f"call_{self._calls}_{index}",
                            "type": "function",
                            "function": {"name": name, "arguments": arguments[:half]},
                        }
                    ]
                }
            )
            yield chunk(
                {"tool_calls": [{"index": index, "function": {"arguments": arguments[half:]}}]}
            )
        yield chunk({}, reply.finish)
        if include_usage:
            usage = {
                "id": call_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": self.model,
                "choices": [],
                "usage": self._usage(reply),
            }
            yield f"data: {json.dumps(usage)}\n\n"
        yield "data: [DONE]\n\n"

    async def _models(self, _: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": self.model, "object": "model"}]})

    def start(self) -> FakeLLM:
        """Serve on a free port of 127.0.0.1 in a background thread."""
        self._stopping.clear()
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._completions, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake LLM did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop the server."""
        self._stopping.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


WIDTH = 8


@dataclass
class FakeEmbeddingsServer:
    """What the server saw, and how it should misbehave."""

    base_url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    delay_s: float = 0.0
    width: int = WIDTH


def fake_vector(text: str, width: int) -> list[float]:
    """A deterministic, deliberately unnormalised vector for a text."""
    digest = hashlib.sha256(text.encode()).digest()
    return [float(byte) + 1.0 for byte in digest[:width]]


def make_handler(state: FakeEmbeddingsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append(
                {"path": self.path, "auth": self.headers["Authorization"], "body": body}
            )
            time.sleep(state.delay_s)
            payload: dict[str, Any]
            if state.status != 200:
                payload = {"error": {"message": "model overloaded", "type": "server_error"}}
            else:
                items = [
                    {
                        "object": "embedding",
                        "index": index,
                        "embedding": fake_vector(text, state.width),
                    }
                    for index, text in enumerate(body["input"])
                ]
                # Real servers may answer out of order; the index field is what counts.
                payload = {"object": "list", "data": items[::-1], "model": body["model"]}
            encoded = json.dumps(payload).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(encoded)))
            self.end_headers()
            self.wfile.write(encoded)

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

    return Handler


@contextmanager
def running_embeddings_server() -> Iterator[FakeEmbeddingsServer]:
    """A fake embeddings server for the duration of the block."""
    state = FakeEmbeddingsServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    httpd.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


class ScriptedModel:
    """A model that is a function from the conversation to a response."""

    provider = "scripted"
    model = "scripted-1"

    def __init__(
        self, respond: Callable[[Sequence[ChatMessage], Sequence[ToolSpec]], ModelResponse]
    ):
        self.respond = respond
        self.calls: list[tuple[list[ChatMessage], list[ToolSpec]]] = []

    async def complete(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> ModelResponse:
        self.calls.append((list(messages), list(tools)))
        return self.respond(messages, tools)

    async def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> AsyncIterator[TextDelta | ModelResponse]:
        response = await self.complete(messages, tools)
        for word in response.content.split(" "):
            yield TextDelta(word)
        yield response

    async def aclose(self) -> None:
        return None


def main() -> None:
    """Run the fake LLM in the foreground (for manual tries): answers every call with text."""
    import sys

    llm = FakeLLM()
    llm.default = Reply(content=sys.argv[1] if len(sys.argv) > 1 else "Hello from the fake LLM.")
    llm.start()
    print(llm.base_url, flush=True)  # noqa: T201
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        llm.stop()


if __name__ == "__main__":
    main()
