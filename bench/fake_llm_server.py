"""A fake LLM for benchmarks: a real HTTP server speaking the OpenAI Chat Completions protocol.

It always plays the same agent: asked with tools and no tool result yet, it calls
`search_knowledge_base` with the user's last message; given a tool result (or no tools), it
answers with `--answer-tokens` words citing [1]. Its timing is configurable so the service's
own overhead can be told apart from the model's:

    --ttft-ms          wait before the first byte of every response (time to first token)
    --tokens-per-s     pace of the streamed tokens (0: all at once); non-streamed responses
                       wait for the same total time before answering
    --answer-tokens    words in the answer (the tool call counts as TOOL_CALL_TOKENS)

Model time of one agent turn is therefore 2 * ttft + (TOOL_CALL_TOKENS + answer) / rate.
`POST /control` with `{"ttft_ms": .., "tokens_per_s": .., "answer_tokens": ..}` changes the
timing of a running server (the benchmark does this between runs). Run it as its own process
(its CPU is not the service's):

    python bench/fake_llm_server.py --port 9100 --ttft-ms 0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import uvicorn

TOOL_CALL_TOKENS = 10
ANSWER_TEXT = (
    "You can return most items within thirty days of delivery for a full refund, and the "
    "refund reaches your card within five working days after we receive the parcel"
)
WORDS = ANSWER_TEXT.split(" ")


class Timing:
    """How slow the fake model is."""

    def __init__(self, ttft_ms: float, tokens_per_s: float, answer_tokens: int) -> None:
        self.ttft = ttft_ms / 1000
        self.per_token = 1 / tokens_per_s if tokens_per_s > 0 else 0.0
        self.answer_tokens = answer_tokens

    def model_seconds(self) -> float:
        """What the model alone takes for one agent turn (tool call, then the answer)."""
        return 2 * self.ttft + (TOOL_CALL_TOKENS + self.answer_tokens) * self.per_token


def _answer_words(count: int) -> list[str]:
    words = [WORDS[i % len(WORDS)] for i in range(count)]
    if words:
        words[-1] += " [1]."
    return words


class FakeLLMApp:
    """A bare ASGI app: no framework, so its own cost stays small and predictable."""

    def __init__(self, timing: Timing, model: str = "fake-bench-model") -> None:
        self.timing = timing
        self.model = model
        self.calls = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if scope["path"].endswith("/chat/completions") and scope["method"] == "POST":
            await self._completions(json.loads(body), send)
        elif scope["path"] == "/control" and scope["method"] == "POST":
            settings = json.loads(body)
            self.timing = Timing(
                settings.get("ttft_ms", 0.0),
                settings.get("tokens_per_s", 0.0),
                settings.get("answer_tokens", self.timing.answer_tokens),
            )
            await _json(
                send, 200, {"model_seconds": self.timing.model_seconds(), "calls": self.calls}
            )
        elif scope["path"].endswith("/models"):
            await _json(send, 200, {"object": "list", "data": [{"id": self.model}]})
        else:
            await _json(send, 404, {"error": {"message": "not found"}})

    def _reply(self, request: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
        messages = request.get("messages") or []
        if request.get("tools") and not any(m.get("role") == "tool" for m in messages):
            question = next(
                (m.get("content") or "" for m in reversed(messages) if m.get("role") == "user"),
                "",
            )
            return "", {"query": question[:900] or "help"}
        return " ".join(_answer_words(self.timing.answer_tokens)), None

    async def _completions(self, request: dict[str, Any], send: Any) -> None:
        self.calls += 1
        call_id = f"chatcmpl-{self.calls}"
        content, tool_args = self._reply(request)
        tokens = TOOL_CALL_TOKENS if tool_args is not None else self.timing.answer_tokens
        usage = {"prompt_tokens": 200, "completion_tokens": tokens, "total_tokens": 200 + tokens}
        if self.timing.ttft:
            await asyncio.sleep(self.timing.ttft)
        if request.get("stream"):
            await self._stream(send, call_id, content, tool_args, usage, request)
            return
        if self.timing.per_token:
            await asyncio.sleep(tokens * self.timing.per_token)
        message: dict[str, Any] = {"role": "assistant", "content": content or None}
        if tool_args is not None:
            message["tool_calls"] = [_tool_call(call_id, tool_args)]
        await _json(
            send,
            200,
            {
                "id": call_id,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": self.model,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "finish_reason": "tool_calls" if tool_args else "stop",
                    }
                ],
                "usage": usage,
            },
        )

    async def _stream(
        self,
        send: Any,
        call_id: str,
        content: str,
        tool_args: dict[str, Any] | None,
        usage: dict[str, int],
        request: dict[str, Any],
    ) -> None:
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            data = {
                "id": call_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return b"data: " + json.dumps(data).encode() + b"\n\n"

        async def emit(data: bytes) -> None:
            await send({"type": "http.response.body", "body": data, "more_body": True})

        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        await emit(chunk({"role": "assistant", "content": ""}))
        if tool_args is not None:
            if self.timing.per_token:
                await asyncio.sleep(TOOL_CALL_TOKENS * self.timing.per_token)
            await emit(chunk({"tool_calls": [{"index": 0, **_tool_call(call_id, tool_args)}]}))
        else:
            words = content.split(" ")
            for i, word in enumerate(words):
                if i and self.timing.per_token:
                    await asyncio.sleep(self.timing.per_token)
                await emit(chunk({"content": word if i == len(words) - 1 else word + " "}))
        await emit(chunk({}, "tool_calls" if tool_args is not None else "stop"))
        if (request.get("stream_options") or {}).get("include_usage"):
            tail = {
                "id": call_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": self.model,
                "choices": [],
                "usage": usage,
            }
            await emit(b"data: " + json.dumps(tail).encode() + b"\n\n")
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})


def _tool_call(call_id: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"call_{call_id}",
        "type": "function",
        "function": {"name": "search_knowledge_base", "arguments": json.dumps(arguments)},
    }


async def _json(send: Any, status: int, payload: dict[str, Any]) -> None:
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--ttft-ms", type=float, default=0.0)
    parser.add_argument("--tokens-per-s", type=float, default=0.0)
    parser.add_argument("--answer-tokens", type=int, default=40)
    args = parser.parse_args()
    app = FakeLLMApp(Timing(args.ttft_ms, args.tokens_per_s, args.answer_tokens))
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        backlog=2048,
    )


if __name__ == "__main__":
    main()
