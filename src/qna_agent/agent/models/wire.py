"""Reading Chat Completions answers straight from the wire: JSON bodies and server-sent events.

The provider lets the `openai` SDK send the request (auth, retries, errors) and reads the answer
itself: only a handful of fields are needed, and the SDK's typed objects cost more CPU than the
HTTP exchange (about 0.15 ms per answer, and 80 us per streamed chunk; docs/benchmarks.md).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from qna_agent.agent.types import ModelResponse, ToolCall, Usage
from qna_agent.errors import UpstreamError

MAX_EVENT_BYTES = 1024 * 1024  # one event; a stream is read event by event


def _object(data: str | bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError as exc:
        raise UpstreamError(
            f"the language model sent {what} that is not JSON", upstream="llm"
        ) from exc
    if not isinstance(value, dict):
        raise UpstreamError(f"the language model sent {what} that is not an object", upstream="llm")
    if value.get("error"):  # some servers report a failure inside a 200 answer or a stream
        error = value["error"]
        message = error.get("message") if isinstance(error, dict) else str(error)
        raise UpstreamError(
            f"the language model reported an error: {message}"[:500], upstream="llm"
        )
    return value


def _usage(value: Any) -> Usage | None:
    if not isinstance(value, dict):
        return None
    return Usage(int(value.get("prompt_tokens") or 0), int(value.get("completion_tokens") or 0))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_completion(body: bytes, default_model: str) -> ModelResponse:
    """A non-streamed `chat.completion` body as a ModelResponse."""
    completion = _object(body, "an answer")
    choices = completion.get("choices")
    if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
        raise UpstreamError("the language model returned no choices", upstream="llm")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        message = {}
    calls = tuple(
        ToolCall(
            str(call.get("id") or f"call_{index}"),
            str(function.get("name") or ""),
            function.get("arguments") or "{}",
        )
        for index, call in enumerate(message.get("tool_calls") or [])
        if isinstance(call, dict)
        and call.get("type", "function") == "function"
        and isinstance(function := call.get("function"), dict)
    )
    return ModelResponse(
        content=message.get("content") or "",
        tool_calls=calls,
        usage=_usage(completion.get("usage")) or Usage(),
        model=completion.get("model") or default_model,
        finish_reason=_text(choice.get("finish_reason")),
        refusal=_text(message.get("refusal")),
    )


async def sse_data(chunks: AsyncIterator[bytes]) -> AsyncIterator[str]:
    """The `data` of each server-sent event, until the stream ends or sends `[DONE]`."""
    buffer = b""
    async for chunk in chunks:
        buffer += chunk
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        *events, buffer = buffer.split(b"\n\n")
        for event in events:
            data = [
                line[5:].removeprefix(b" ")
                for line in event.split(b"\n")
                if line.startswith(b"data:")
            ]
            if not data:
                continue  # a comment (keep-alive) or an event without data
            text = b"\n".join(data).decode("utf-8", errors="replace")
            if text == "[DONE]":
                return
            yield text
        if len(buffer) > MAX_EVENT_BYTES:
            raise UpstreamError("the language model sent an oversized stream event", upstream="llm")


def decode_chunk(data: str) -> dict[str, Any]:
    """One `chat.completion.chunk` event."""
    return _object(data, "a stream event")


class StreamAssembler:
    """Builds the complete response of a streamed step from its chunks."""

    def __init__(self, default_model: str) -> None:
        self.model = default_model
        self.text: list[str] = []
        self.calls: dict[int, dict[str, str]] = {}
        self.usage = Usage()
        self.finish_reason: str | None = None
        self.refusal: list[str] = []

    def add(self, chunk: dict[str, Any]) -> str:
        """Take one chunk; returns the answer text it adds (may be empty)."""
        self.model = chunk.get("model") or self.model
        usage = _usage(chunk.get("usage"))
        if usage is not None:
            self.usage = usage
        added = []
        for choice in chunk.get("choices") or []:
            if not isinstance(choice, dict):
                continue
            # It comes with the last delta of the choice, often an empty one.
            self.finish_reason = _text(choice.get("finish_reason")) or self.finish_reason
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                continue
            content = delta.get("content")
            if content:
                added.append(content)
            refusal = _text(delta.get("refusal"))
            if refusal:
                self.refusal.append(refusal)
            for fragment in delta.get("tool_calls") or []:
                self._add_call_fragment(fragment)
        text = "".join(added)
        if text:
            self.text.append(text)
        return text

    def _add_call_fragment(self, fragment: Any) -> None:
        if not isinstance(fragment, dict):
            return
        call = self.calls.setdefault(
            int(fragment.get("index") or 0), {"id": "", "name": "", "arguments": ""}
        )
        call["id"] = fragment.get("id") or call["id"]
        function = fragment.get("function")
        if isinstance(function, dict):
            call["name"] += function.get("name") or ""
            call["arguments"] += function.get("arguments") or ""

    def response(self) -> ModelResponse:
        """Everything the stream said, as one response."""
        tool_calls = tuple(
            ToolCall(call["id"] or f"call_{index}", call["name"], call["arguments"] or "{}")
            for index, call in sorted(self.calls.items())
        )
        return ModelResponse(
            "".join(self.text),
            tool_calls,
            self.usage,
            self.model,
            finish_reason=self.finish_reason,
            refusal="".join(self.refusal) or None,
        )
