"""Provider-neutral message, tool and event types used by the loop and every provider."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "content_filter", "refusal"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A call the model asked for; `arguments` is the JSON text the model produced."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One message of the conversation sent to the model."""

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens billed for model calls."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )


@dataclass(frozen=True, slots=True)
class ModelResponse:
    """A complete answer of the model for one step.

    `finish_reason` is the provider's own word for why it stopped ("stop", "length",
    "tool_calls", "content_filter"...), None when it gave none; `refusal` is the text of a
    refusal the provider reports apart from the content (OpenAI's `message.refusal`).
    """

    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    finish_reason: str | None = None
    refusal: str | None = None


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of streamed answer text."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """What the model is told about a tool."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Citation:
    """A source the answer refers to as `[ref]`."""

    ref: int
    source: str
    title: str
    heading: str
    snippet: str
    score: float
    start_line: int | None = None
    end_line: int | None = None
    chunk_id: int | None = None
    kind: Literal["document", "sql"] = "document"
    query: str | None = None
    row_count: int | None = None


@dataclass(frozen=True, slots=True)
class ToolCallRecord:
    """What happened when a tool ran, as stored with the answer."""

    id: str
    name: str
    arguments: dict[str, Any]
    status: Literal["ok", "error"]
    result_summary: str
    duration_ms: float


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    """The loop is about to run a tool."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolCallFinished:
    """A tool returned (or failed: its error went back to the model)."""

    record: ToolCallRecord


@dataclass(frozen=True, slots=True)
class AgentResult:
    """The outcome of one turn.

    `finish_reason` says why the last answer ended: "stop", "length" (cut at the token
    limit), "content_filter" or "refusal"; None when the model did not say.
    """

    content: str
    citations: list[Citation]
    tool_calls: list[ToolCallRecord]
    usage: Usage
    model: str
    steps: int
    finish_reason: FinishReason | None = None


AgentEvent = TextDelta | ToolCallStarted | ToolCallFinished | AgentResult
