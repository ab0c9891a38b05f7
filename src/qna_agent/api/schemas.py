"""Public JSON shapes. Routes return these, never ORM rows."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from qna_agent.api.schema_types import Metadata, OneLineText, VisibleText
from qna_agent.chat.models import Chat, Message

_EXAMPLE_CHAT_ID = "0193a5f2-7c1e-7b3a-9d2e-5f8a1c4b6e01"
_EXAMPLE_MESSAGE_ID = "0193a5f2-8d40-7c11-a0b2-3c4d5e6f7a8b"
_EXAMPLE_TIME = "2026-11-24T10:15:00Z"
_EXAMPLE_CHAT: dict[str, Any] = {
    "id": _EXAMPLE_CHAT_ID,
    "title": "Returns",
    "metadata": {"team": "support"},
    "created_at": _EXAMPLE_TIME,
    "updated_at": _EXAMPLE_TIME,
}
_EXAMPLE_CITATION: dict[str, Any] = {
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
_EXAMPLE_TOOL_CALL: dict[str, Any] = {
    "id": "call_1",
    "name": "search_knowledge_base",
    "arguments": {"query": "return window", "top_k": 5},
    "status": "ok",
    "result_summary": "5 passages for 'return window'",
    "duration_ms": 3.2,
}
_EXAMPLE_USAGE: dict[str, Any] = {"prompt_tokens": 812, "completion_tokens": 41, "cost_micros": 146}
_EXAMPLE_MESSAGE: dict[str, Any] = {
    "id": _EXAMPLE_MESSAGE_ID,
    "chat_id": _EXAMPLE_CHAT_ID,
    "role": "assistant",
    "content": "You have 30 days from delivery to return an item [1].",
    "status": "completed",
    "error": None,
    "citations": [_EXAMPLE_CITATION],
    "tool_calls": [_EXAMPLE_TOOL_CALL],
    "usage": _EXAMPLE_USAGE,
    "model": "gpt-4o-mini",
    "latency_ms": 1240,
    "created_at": _EXAMPLE_TIME,
}


def examples(*values: dict[str, Any]) -> ConfigDict:
    """A model configuration that shows `values` as the schema's examples."""
    return ConfigDict(json_schema_extra={"examples": list(values)})


class ChatCreate(BaseModel):
    """A new chat."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"title": "Returns", "metadata": {"team": "support"}}]},
    )

    title: OneLineText | None = Field(
        None, max_length=200, description="A name for the chat (one line)."
    )
    metadata: Metadata = Field(
        default_factory=dict,
        description="Free key/value pairs for your records: at most 50 keys of up to 64 "
        "characters; values are text (up to 512 characters), numbers, booleans or null.",
    )


class ChatUpdate(BaseModel):
    """Fields to change; omitted fields stay as they are, `null` clears a field."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"title": "Returns and refunds"}]}
    )

    title: OneLineText | None = Field(None, max_length=200, description="`null` removes it.")
    metadata: Metadata | None = Field(
        None, description="Replaces the metadata (limits as on creation); `null` empties it."
    )


class ChatOut(BaseModel):
    """A chat."""

    model_config = examples(_EXAMPLE_CHAT)

    id: uuid.UUID
    title: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    usage: ChatUsageOut | None = Field(
        None, description="Token and cost totals; given by `GET /chats/{id}` only."
    )

    @classmethod
    def of(cls, chat: Chat, usage: ChatUsageOut | None = None) -> ChatOut:
        """The public view of a chat row."""
        return cls(
            id=chat.id,
            title=chat.title,
            metadata=chat.meta,
            created_at=chat.created_at,
            updated_at=chat.updated_at,
            usage=usage,
        )


class CitationOut(BaseModel):
    """A passage the answer refers to as `[ref]`."""

    model_config = examples(
        _EXAMPLE_CITATION,
        {
            "ref": 2,
            "kind": "sql",
            "source": "sql",
            "title": "SQL query (1 row)",
            "heading": "SELECT count(*) FROM returns",
            "snippet": "| count(*) |\n|---|\n| 27 |",
            "score": 1.0,
            "query": "SELECT count(*) FROM returns",
            "row_count": 1,
        },
    )

    ref: int = Field(description="The number used in the answer text, as in [1].")
    source: str = Field(description="Path of the document in the knowledge base.")
    title: str
    heading: str = Field(description="Heading path of the passage, e.g. 'Returns > Window'.")
    snippet: str
    score: float
    start_line: int | None = None
    end_line: int | None = None
    chunk_id: int | None = Field(None, description="Open it at `GET /kb/chunks/{chunk_id}`.")
    kind: Literal["document", "sql"] = Field(
        "document", description="`document`: a passage; `sql`: a query result of the SQL tool."
    )
    query: str | None = Field(None, description="For `sql`: the query that was run.")
    row_count: int | None = Field(None, description="For `sql`: how many rows it returned.")


class ToolCallOut(BaseModel):
    """A tool the agent ran during the turn."""

    model_config = examples(_EXAMPLE_TOOL_CALL)

    id: str
    name: str
    arguments: dict[str, Any]
    status: Literal["ok", "error"]
    result_summary: str
    duration_ms: float


class UsageOut(BaseModel):
    """Tokens the language model billed for the turn, and what they cost."""

    model_config = examples(_EXAMPLE_USAGE)

    prompt_tokens: int
    completion_tokens: int
    cost_micros: int = Field(
        0, description="Cost in millionths of the price currency (`LLM_PRICE_CURRENCY`)."
    )


class ChatUsageOut(BaseModel):
    """Totals over a chat's answers (failed and retried attempts included)."""

    model_config = examples({**_EXAMPLE_USAGE, "currency": "USD", "assistant_messages": 1})

    prompt_tokens: int
    completion_tokens: int
    cost_micros: int
    currency: str = Field(description="ISO 4217 code of the prices, e.g. USD.")
    assistant_messages: int


class MessageCreate(BaseModel):
    """A question for the agent."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"content": "How long do I have to return an item?"}]},
    )

    content: VisibleText = Field(
        min_length=1,
        description="The user's message: not only whitespace, no control "
        "characters but tab, newline and carriage return.",
    )


class MessageOut(BaseModel):
    """A message: the user's question, or the assistant's answer with its record."""

    model_config = examples(_EXAMPLE_MESSAGE)

    id: uuid.UUID
    chat_id: uuid.UUID
    role: Literal["user", "assistant"]
    content: str
    status: Literal["in_progress", "completed", "failed"]
    error: str | None = Field(description="Why the turn failed, when it did.")
    citations: list[CitationOut]
    tool_calls: list[ToolCallOut]
    usage: UsageOut
    model: str | None
    latency_ms: int | None
    created_at: datetime

    @classmethod
    def of(cls, message: Message) -> MessageOut:
        """The public view of a message row."""
        return cls(
            id=message.id,
            chat_id=message.chat_id,
            role=message.role,
            content=message.content,
            status=message.status,
            error=message.error,
            citations=[CitationOut.model_validate(c) for c in message.citations],
            tool_calls=[ToolCallOut.model_validate(t) for t in message.tool_calls],
            usage=UsageOut(
                prompt_tokens=message.prompt_tokens,
                completion_tokens=message.completion_tokens,
                cost_micros=message.cost_micros,
            ),
            model=message.model,
            latency_ms=message.latency_ms,
            created_at=message.created_at,
        )


class ChatPage(BaseModel):
    """A page of chats, newest first."""

    model_config = examples(
        {"data": [_EXAMPLE_CHAT], "has_more": True, "next_cursor": _EXAMPLE_CHAT_ID}
    )

    data: list[ChatOut]
    has_more: bool
    next_cursor: str | None = Field(description="Pass as `after` to get the next page.")


class MessagePage(BaseModel):
    """A page of messages."""

    model_config = examples({"data": [_EXAMPLE_MESSAGE], "has_more": False, "next_cursor": None})

    data: list[MessageOut]
    has_more: bool
    next_cursor: str | None = Field(description="Pass as `after` to get the next page.")


class Problem(BaseModel):
    """An error, as RFC 9457 `application/problem+json`."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "about:blank",
                    "title": "Not Found",
                    "status": 404,
                    "detail": f"chat {_EXAMPLE_CHAT_ID} not found",
                    "code": "not_found",
                }
            ]
        },
    )

    type: str = "about:blank"
    title: str = Field(description="The HTTP status phrase.")
    status: int
    detail: str = Field(description="What went wrong, for a person.")
    instance: str | None = Field(None, description="The path of the request.")
    code: str = Field(description="What went wrong, for a program: `not_found`, `quota_exceeded`…")


class CheckOut(BaseModel):
    """One dependency's state."""

    model_config = examples({"ok": True}, {"ok": False, "detail": "migrations are not at head"})

    ok: bool
    detail: str | None = None


class HealthOut(BaseModel):
    """Liveness or readiness."""

    model_config = examples(
        {"status": "ok", "checks": {"database": {"ok": True}, "knowledge_base": {"ok": True}}}
    )

    status: Literal["ok", "unavailable"]
    checks: dict[str, CheckOut] = Field(default_factory=dict)
