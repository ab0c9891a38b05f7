"""Public JSON shapes of messages: the question, the answer and its record (citations, tools
run, tokens billed)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from qna_agent.api.schemas.common import Page
from qna_agent.api.schemas.examples import CITATION, MESSAGE, TOOL_CALL, USAGE, examples
from qna_agent.api.schemas.types import VisibleText
from qna_agent.chat.models import Message


class CitationOut(BaseModel):
    """A passage the answer refers to as `[ref]`."""

    model_config = examples(
        CITATION,
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

    model_config = examples(TOOL_CALL)

    id: str
    name: str
    arguments: dict[str, Any]
    status: Literal["ok", "error"]
    result_summary: str
    duration_ms: float


class UsageOut(BaseModel):
    """Tokens the language model billed for the turn, and what they cost."""

    model_config = examples(USAGE)

    prompt_tokens: int
    completion_tokens: int
    cost_micros: int = Field(
        0, description="Cost in millionths of the price currency (`LLM_PRICE_CURRENCY`)."
    )


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

    model_config = examples(MESSAGE)

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
    finish_reason: Literal["stop", "length", "content_filter", "refusal"] | None = Field(
        default=None,
        description="Why the answer ended: `stop` (complete), `length` (cut at the output "
        "limit), `content_filter` or `refusal` (the model declined); null until answered.",
    )
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
            finish_reason=message.finish_reason,
            latency_ms=message.latency_ms,
            created_at=message.created_at,
        )


class MessagePage(Page[MessageOut]):
    """A page of messages."""

    model_config = examples({"data": [MESSAGE], "has_more": False, "next_cursor": None})
