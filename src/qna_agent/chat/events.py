"""What a running turn tells its listeners, and why a turn can end early.

Every front door renders the same stream: progress events (`TextDelta`, `ToolCallStarted`,
`ToolCallFinished`) and one last event, `TurnFinished` for a stored turn (the chats API, the
CLI) or `AnswerFinished` for a stateless answer (`/v1`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qna_agent.agent.types import AgentResult, TextDelta, ToolCallFinished, ToolCallStarted, Usage
from qna_agent.chat.models import Message
from qna_agent.errors import Conflict, QnaError

INTERRUPTED = "interrupted: the server stopped before this turn finished"
CANCELLED = "cancelled: the client disconnected before the turn finished"
STOPPED = "cancelled: stopped on request"


class TurnCancelled(Conflict):
    """The turn was cancelled before it finished (its client went away, or asked to stop)."""

    title = "Turn cancelled"


@dataclass(frozen=True, slots=True)
class TurnFinished:
    """A stored turn ended; `message` is the stored assistant message, `error` set if it failed.

    `usage` is what this attempt used (a retried message's stored usage adds up every attempt):
    the principal's token budget settles to it.
    """

    message: Message
    error: QnaError | None = None
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True, slots=True)
class AnswerFinished:
    """A stateless answer ended: the agent's result, or the error it ended with."""

    answer: AgentResult | None
    error: QnaError | None = None
    usage: Usage = field(default_factory=Usage)


Progress = TextDelta | ToolCallStarted | ToolCallFinished
Finished = TurnFinished | AnswerFinished
TurnEvent = Progress | TurnFinished
Event = Progress | Finished


def progress_event(event: Progress, message_id: str) -> tuple[str, dict[str, Any]]:
    """An in-progress turn event as the streaming API names and shapes it."""
    if isinstance(event, TextDelta):
        return "message.delta", {"message_id": message_id, "delta": event.text}
    if isinstance(event, ToolCallStarted):
        return "tool.call", {
            "message_id": message_id,
            "id": event.id,
            "name": event.name,
            "arguments": event.arguments,
        }
    record = event.record
    return "tool.result", {
        "message_id": message_id,
        "id": record.id,
        "name": record.name,
        "status": record.status,
        "result_summary": record.result_summary,
        "duration_ms": record.duration_ms,
    }
