"""Server-Sent Events for a running turn.

Events: `message.created`, `message.delta`, `tool.call`, `tool.result`, `message.completed`,
`error`; every event has an increasing `id:`. A comment line is sent when the turn is quiet
for a while so proxies keep the connection open.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from qna_agent.api.errors import problem_document, problem_for
from qna_agent.api.schemas.messages import MessageOut
from qna_agent.chat.events import AnswerFinished, Event, TurnFinished, progress_event
from qna_agent.chat.replays import Replay
from qna_agent.chat.turn import Turn
from qna_agent.observability import metrics

SSE_HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",
}
KEEPALIVE = b": keep-alive\n\n"


def encode_event(event_id: int, event: str, data: dict[str, Any]) -> bytes:
    """One SSE frame."""
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"id: {event_id}\nevent: {event}\ndata: {payload}\n\n".encode()


def _frame(event: Event, message_id: str) -> tuple[str, dict[str, Any]]:
    if not isinstance(event, TurnFinished):
        assert not isinstance(event, AnswerFinished)  # a stored turn's stream
        return progress_event(event, message_id)
    message = MessageOut.of(event.message).model_dump(mode="json")
    if event.error is None:
        return "message.completed", message
    status, code, extra = problem_for(event.error)
    problem = problem_document(status, event.error.detail, code=code, **extra)
    return "error", {"message_id": message_id, "problem": problem, "message": message}


async def turn_events(turn: Turn, *, keepalive_seconds: float) -> AsyncIterator[bytes]:
    """The SSE byte stream of a turn, from `message.created` to the end."""
    metrics.SSE_STREAMS.inc()
    try:
        async for frame in _turn_frames(turn, keepalive_seconds=keepalive_seconds):
            yield frame
    finally:
        metrics.SSE_STREAMS.dec()


async def _turn_frames(turn: Turn, *, keepalive_seconds: float) -> AsyncIterator[bytes]:
    message_id = str(turn.assistant_message.id)
    event_id = 1
    yield encode_event(
        event_id,
        "message.created",
        {
            "message": MessageOut.of(turn.assistant_message).model_dump(mode="json"),
            "user_message": MessageOut.of(turn.user_message).model_dump(mode="json"),
        },
    )
    async for event in turn.follow(keepalive_seconds):
        if event is None:
            yield KEEPALIVE
            continue
        event_id += 1
        name, data = _frame(event, message_id)
        yield encode_event(event_id, name, data)


async def replay_events(replay: Replay) -> AsyncIterator[bytes]:
    """A finished turn as a short stream (an `Idempotency-Key` replay): created, then the end."""
    message = replay.message
    created: dict[str, Any] = {"message": MessageOut.of(message).model_dump(mode="json")}
    if replay.user_message is not None:
        created["user_message"] = MessageOut.of(replay.user_message).model_dump(mode="json")
    yield encode_event(1, "message.created", created)
    name, data = _frame(TurnFinished(message, replay.error()), str(message.id))
    yield encode_event(2, name, data)
