"""Example values the published schemas show, shared where one shape embeds another."""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

CHAT_ID = "0193a5f2-7c1e-7b3a-9d2e-5f8a1c4b6e01"
MESSAGE_ID = "0193a5f2-8d40-7c11-a0b2-3c4d5e6f7a8b"
TIME = "2026-11-24T10:15:00Z"
CHAT: dict[str, Any] = {
    "id": CHAT_ID,
    "title": "Returns",
    "metadata": {"team": "support"},
    "created_at": TIME,
    "updated_at": TIME,
}
CITATION: dict[str, Any] = {
    "ref": 1,
    "source": "refund-policy.md",
    "title": "Refund Policy",
    "heading": "Refund Policy > Return window",
    "snippet": "You have 30 days from delivery to return an item…",
    "score": 7.41,
    "start_line": 5,
    "end_line": 9,
    "chunk_id": 12,
    "kind": "document",
}
TOOL_CALL: dict[str, Any] = {
    "id": "call_1",
    "name": "search_knowledge_base",
    "arguments": {"query": "return window", "top_k": 5},
    "status": "ok",
    "result_summary": "5 passages for 'return window'",
    "duration_ms": 3.2,
}
USAGE: dict[str, Any] = {"prompt_tokens": 812, "completion_tokens": 41, "cost_micros": 146}
MESSAGE: dict[str, Any] = {
    "id": MESSAGE_ID,
    "chat_id": CHAT_ID,
    "role": "assistant",
    "content": "You have 30 days from delivery to return an item [1].",
    "status": "completed",
    "error": None,
    "citations": [CITATION],
    "tool_calls": [TOOL_CALL],
    "usage": USAGE,
    "model": "gpt-4o-mini",
    "finish_reason": "stop",
    "latency_ms": 1240,
    "created_at": TIME,
}


def examples(*values: dict[str, Any]) -> ConfigDict:
    """A model configuration that shows `values` as the schema's examples."""
    return ConfigDict(json_schema_extra={"examples": list(values)})
