"""How an answer looks on the OpenAI wire: a completion, or a stream of chunks ending in
`data: [DONE]`. The sources are appended to the text and also given as extension fields."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

from qna_agent.agent.types import AgentResult, Citation, TextDelta
from qna_agent.api.openai.errors import from_domain
from qna_agent.api.sse import KEEPALIVE
from qna_agent.chat.events import AnswerFinished
from qna_agent.chat.turn import Answer


def sources_text(citations: list[Citation]) -> str:
    """The `Sources:` block appended to an answer that cites something."""
    if not citations:
        return ""
    lines = []
    for citation in citations:
        if citation.kind == "sql":
            lines.append(f"[{citation.ref}] {citation.title}: {citation.query}")
        else:
            where = f" — {citation.heading}" if citation.heading else ""
            lines.append(f"[{citation.ref}] {citation.title}{where} ({citation.source})")
    return "\n\nSources:\n" + "\n".join(lines)


def _usage(result: AgentResult) -> dict[str, int]:
    prompt, completion = result.usage.prompt_tokens, result.usage.completion_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def finish_reason(result: AgentResult) -> str:
    """The answer's `finish_reason` in OpenAI's words (a refusal ends with `stop`, its text
    in `refusal`)."""
    if result.finish_reason in ("length", "content_filter"):
        return result.finish_reason
    return "stop"


def _extensions(result: AgentResult) -> dict[str, Any]:
    return {
        "citations": [asdict(citation) for citation in result.citations],
        "qna_tool_calls": [asdict(record) for record in result.tool_calls],
    }


def _chunk(
    completion_id: str, created: int, model: str, delta: dict[str, Any], finish: str | None = None
) -> dict[str, Any]:
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _sse(data: dict[str, Any] | str) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {payload}\n\n".encode()


async def stream_chunks(
    answer: Answer, *, model: str, include_usage: bool, keepalive_seconds: float
) -> AsyncIterator[bytes]:
    """The answer's events as `chat.completion.chunk` events; comments keep a quiet stream
    open. A client that leaves early stops the answer (nobody would read it)."""
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    yield _sse(_chunk(completion_id, created, model, {"role": "assistant", "content": ""}))
    try:
        async for event in answer.follow(keepalive_seconds):
            if event is None:  # a quiet tool step: keep proxies from timing the stream out
                yield KEEPALIVE
            elif isinstance(event, TextDelta) and event.text:
                yield _sse(_chunk(completion_id, created, model, {"content": event.text}))
            elif isinstance(event, AnswerFinished) and event.answer is None:
                assert event.error is not None
                yield _sse(from_domain(event.error).body)
            elif isinstance(event, AnswerFinished) and event.answer is not None:
                result = event.answer
                tail = sources_text(result.citations)
                delta = {"content": tail} if tail else {}
                final = _chunk(completion_id, created, model, delta, finish_reason(result))
                yield _sse({**final, **_extensions(result)})
                if include_usage:
                    usage = {
                        **_chunk(completion_id, created, model, {}),
                        "choices": [],
                        "usage": _usage(result),
                    }
                    yield _sse(usage)
    finally:
        answer.cancel()  # a no-op once it has finished
    yield _sse("[DONE]")


def completion(result: AgentResult, model: str) -> dict[str, Any]:
    """The answer as a `chat.completion` object."""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": result.content + sources_text(result.citations),
                    "refusal": result.content if result.finish_reason == "refusal" else None,
                },
                "finish_reason": finish_reason(result),
            }
        ],
        "usage": _usage(result),
        **_extensions(result),
    }
