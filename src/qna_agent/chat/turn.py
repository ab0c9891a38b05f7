"""A running turn: its events, the task that runs it, and how it is stopped.

`Turn` is a stored turn (a question and an assistant message in a chat); `Answer` is a
stateless one (`/v1`, where the client sends the conversation and nothing is stored). Both are
followed the same way: `follow()` yields the events as they come, `None` after a quiet spell
(time for a keep-alive), and ends with the `Finished` event.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from qna_agent.agent.types import Usage
from qna_agent.chat.admission import Ticket
from qna_agent.chat.events import (
    CANCELLED,
    AnswerFinished,
    Event,
    Finished,
    TurnCancelled,
    TurnFinished,
)
from qna_agent.chat.models import Message
from qna_agent.errors import QnaError, UpstreamError

F = TypeVar("F", TurnFinished, AnswerFinished)


@dataclass(eq=False, kw_only=True)
class Run(Generic[F]):
    """What every turn has: its admission ticket (what it holds of the budget and the stream
    slots), its events and its task."""

    ticket: Ticket | None = None
    events: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[F] | None = None
    stop_reason: QnaError | None = None
    storing: bool = False

    def cancel(self, reason: QnaError | None = None) -> None:
        """Stop the turn; it ends `failed` (with `reason`) with the usage so far.

        Once its outcome is being stored the turn is past stopping: the outcome stands."""
        if self.task is None or self.task.done() or self.storing:
            return
        if self.stop_reason is None:
            self.stop_reason = reason or TurnCancelled(CANCELLED, upstream="client")
        self.task.cancel()

    async def result(self) -> F:
        """Wait for the outcome; cancelling the waiter does not cancel the turn."""
        assert self.task is not None
        return await asyncio.shield(self.task)

    async def follow(self, quiet_seconds: float | None = None) -> AsyncIterator[Event | None]:
        """The turn's events until it finishes; `None` after `quiet_seconds` without one."""
        while True:
            event = await self._next(quiet_seconds)
            yield event
            if isinstance(event, TurnFinished | AnswerFinished):
                return

    async def _next(self, quiet_seconds: float | None) -> Event | None:
        """The next event, or None after `quiet_seconds` without one.

        A turn's task always queues its finished event; should it ever end without one (a
        bug), the listener still hears an end, with an error, instead of waiting forever."""
        if not self.events.empty():
            return self.events.get_nowait()
        getter = asyncio.ensure_future(self.events.get())
        waiting: set[asyncio.Future[Any]] = {getter}
        if self.task is not None:
            waiting.add(self.task)
        try:
            await asyncio.wait(waiting, timeout=quiet_seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            getter.cancel()  # a no-op once it has an event; a cancelled get loses nothing
        if getter.done() and not getter.cancelled():
            return getter.result()
        if not self.events.empty():
            return self.events.get_nowait()
        if self.task is not None and self.task.done():
            return self.unfinished(UpstreamError("the turn ended without an outcome"))
        return None

    def unfinished(self, error: QnaError) -> Finished:
        """The finished event of a turn that ended without one."""
        raise NotImplementedError


@dataclass(eq=False, kw_only=True)
class Turn(Run[TurnFinished]):
    """A stored turn: the question, the assistant message it answers into, and for a retry
    what the earlier attempts used."""

    user_message: Message
    assistant_message: Message
    earlier_usage: Usage = field(default_factory=Usage)
    earlier_cost_micros: int = 0

    def unfinished(self, error: QnaError) -> Finished:
        return TurnFinished(self.assistant_message, error)


@dataclass(eq=False, kw_only=True)
class Answer(Run[AnswerFinished]):
    """A stateless answer to a conversation the client sent."""

    def unfinished(self, error: QnaError) -> Finished:
        return AnswerFinished(None, error)
