"""The SSE stream of a turn always ends: a turn task that died without telling its outcome (a
bug) ends the stream with an `error` event instead of keep-alives forever."""

from __future__ import annotations

import asyncio
import json

from qna_agent.api.sse import KEEPALIVE, turn_events
from qna_agent.chat.events import TurnFinished
from qna_agent.chat.models import ROLE_ASSISTANT, ROLE_USER, STATUS_IN_PROGRESS, Message
from qna_agent.chat.turn import Turn
from qna_agent.db.base import utcnow
from qna_agent.db.ids import uuid7


def _message(role: str, status: str) -> Message:
    return Message(
        id=uuid7(),
        chat_id=uuid7(),
        role=role,
        content="",
        status=status,
        citations=[],
        tool_calls=[],
        prompt_tokens=0,
        completion_tokens=0,
        cost_micros=0,
        created_at=utcnow(),
    )


async def test_a_stream_ends_when_its_turn_dies_without_an_outcome() -> None:
    async def crash() -> TurnFinished:
        await asyncio.sleep(0.05)
        raise RuntimeError("a bug in the turn task")

    turn = Turn(
        user_message=_message(ROLE_USER, "completed"),
        assistant_message=_message(ROLE_ASSISTANT, STATUS_IN_PROGRESS),
    )
    turn.task = asyncio.create_task(crash())
    async with asyncio.timeout(5):  # without the fix: keep-alives forever
        frames = [frame async for frame in turn_events(turn, keepalive_seconds=0.02)]
    assert isinstance(turn.task.exception(), RuntimeError)
    events = [f.decode() for f in frames if f != KEEPALIVE]
    assert [e.split("\n")[1] for e in events] == ["event: message.created", "event: error"]
    error = json.loads(events[-1].split("\n")[2].removeprefix("data: "))
    assert error["problem"]["status"] == 502
    assert error["message_id"] == str(turn.assistant_message.id)
