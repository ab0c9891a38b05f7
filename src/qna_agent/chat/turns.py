"""Running a turn: store the question, run the agent, store the answer, never lose either.

The user's message and an `in_progress` assistant message are committed before the model is
called. The agent runs in a task of its own, so a client that disconnects (or a request that
is cancelled) does not stop the turn: its outcome is stored as `completed` or `failed`.
Events flow to whoever listens through a queue.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from datetime import timedelta

import structlog

from qna_agent.agent.loop import Agent
from qna_agent.agent.types import (
    AgentEvent,
    AgentResult,
    ChatMessage,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
)
from qna_agent.chat import repository
from qna_agent.chat.models import (
    ROLE_ASSISTANT,
    ROLE_USER,
    STATUS_COMPLETED,
    STATUS_FAILED,
    STATUS_IN_PROGRESS,
    Message,
)
from qna_agent.db.base import utcnow
from qna_agent.db.engine import Database
from qna_agent.db.ids import uuid7
from qna_agent.errors import NotFound, QnaError, UpstreamError, UpstreamTimeout

log = structlog.get_logger(__name__)

INTERRUPTED = "interrupted: the server stopped before this turn finished"


@dataclass(frozen=True, slots=True)
class TurnFinished:
    """The turn ended; `message` is the stored assistant message, `error` set if it failed."""

    message: Message
    error: QnaError | None = None


TurnEvent = TextDelta | ToolCallStarted | ToolCallFinished | TurnFinished


@dataclass(slots=True)
class Turn:
    """A running turn: its stored messages, its events, and the task that runs it."""

    user_message: Message
    assistant_message: Message
    events: asyncio.Queue[TurnEvent] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[TurnFinished] | None = None

    async def stream(self) -> AsyncIterator[TurnEvent]:
        """The turn's events until it finishes."""
        while True:
            event = await self.events.get()
            yield event
            if isinstance(event, TurnFinished):
                return

    async def result(self) -> TurnFinished:
        """Wait for the outcome; cancelling the waiter does not cancel the turn."""
        assert self.task is not None
        return await asyncio.shield(self.task)


class TurnRunner:
    """Starts turns and keeps track of them until they end (for a graceful shutdown)."""

    def __init__(
        self, database: Database, agent: Agent, *, history_messages: int, turn_timeout: float
    ) -> None:
        self._database = database
        self._agent = agent
        self._history_messages = history_messages
        self._turn_timeout = turn_timeout
        self._tasks: set[asyncio.Task[TurnFinished]] = set()

    @property
    def in_flight(self) -> int:
        """Turns still running."""
        return len(self._tasks)

    async def start(self, *, owner_id: str, chat_id: uuid.UUID, content: str, stream: bool) -> Turn:
        """Commit the question and an in-progress answer, then run the agent in a task."""
        async with self._database.write_sessions.begin() as session:
            await repository.get_chat(session, owner_id=owner_id, chat_id=chat_id)
            # Ids are made here, so the history is read first and both rows go in one flush:
            # each statement is a round trip to the database (to its thread, on SQLite).
            user_id = uuid7()
            history = await repository.conversation(
                session, chat_id=chat_id, before=user_id, limit=self._history_messages
            )
            user_message = Message(
                id=user_id,
                chat_id=chat_id,
                role=ROLE_USER,
                content=content,
                status=STATUS_COMPLETED,
            )
            assistant = Message(
                id=uuid7(),
                chat_id=chat_id,
                parent_id=user_id,
                role=ROLE_ASSISTANT,
                content="",
                status=STATUS_IN_PROGRESS,
            )
            session.add_all([user_message, assistant])
            await session.flush()
            prompt = [
                ChatMessage("user" if m.role == ROLE_USER else "assistant", m.content)
                for m in history
            ]
        prompt.append(ChatMessage("user", content))
        turn = Turn(user_message, assistant)
        task = asyncio.create_task(self._run(turn, prompt, stream), name=f"turn-{assistant.id}")
        turn.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return turn

    async def _run(self, turn: Turn, prompt: list[ChatMessage], stream: bool) -> TurnFinished:
        started = time.perf_counter()
        message_id = turn.assistant_message.id
        bound = log.bind(chat_id=str(turn.user_message.chat_id), message_id=str(message_id))
        error: QnaError | None = None
        result: AgentResult | None = None
        try:
            async with asyncio.timeout(self._turn_timeout):
                async for event in self._agent.run(prompt, stream=stream):
                    if isinstance(event, AgentResult):
                        result = event
                    else:
                        turn.events.put_nowait(event)
        except TimeoutError:
            error = UpstreamTimeout(
                f"the turn took longer than {self._turn_timeout:g} s", upstream="agent"
            )
        except QnaError as exc:
            error = exc
        except Exception as exc:  # a bug: store an honest record, log it once
            bound.exception("turn_crashed")
            error = UpstreamError(f"the agent failed: {type(exc).__name__}", upstream="agent")
        latency_ms = round((time.perf_counter() - started) * 1000)
        values: dict[str, object] = {"latency_ms": latency_ms, "updated_at": utcnow()}
        if result is not None:
            values.update(
                status=STATUS_COMPLETED,
                content=result.content,
                citations=[asdict(c) for c in result.citations],
                tool_calls=[asdict(t) for t in result.tool_calls],
                prompt_tokens=result.usage.prompt_tokens,
                completion_tokens=result.usage.completion_tokens,
                model=result.model,
            )
        else:
            error = error or UpstreamError("the agent returned no answer", upstream="agent")
            values.update(status=STATUS_FAILED, error=error.detail, model=self._agent.model.model)
        finished = await self._store(turn, values, error)
        bound.info(
            "turn_finished",
            status=finished.message.status,
            latency_ms=latency_ms,
            steps=result.steps if result else None,
        )
        turn.events.put_nowait(finished)
        return finished

    async def _store(
        self, turn: Turn, values: dict[str, object], error: QnaError | None
    ) -> TurnFinished:
        try:
            async with self._database.write_sessions.begin() as session:
                message = await repository.finish_message(
                    session, message_id=turn.assistant_message.id, values=values
                )
        except NotFound as exc:  # the chat was deleted while the turn ran
            return TurnFinished(turn.assistant_message, exc)
        return TurnFinished(message, error)

    async def drain(self, grace_seconds: float) -> int:
        """Wait for running turns up to `grace_seconds`; returns how many did not finish."""
        pending = set(self._tasks)
        if not pending:
            return 0
        _, still = await asyncio.wait(pending, timeout=grace_seconds)
        return len(still)


async def fail_stale_turns(database: Database, *, older_than: timedelta) -> int:
    """Mark turns left `in_progress` by a crash as failed; returns how many."""
    async with database.write_sessions.begin() as session:
        count = await repository.fail_stale_turns(
            session, updated_before=utcnow() - older_than, reason=INTERRUPTED
        )
    if count:
        log.warning("stale_turns_failed", count=count)
    return count


__all__ = ["AgentEvent", "Turn", "TurnEvent", "TurnFinished", "TurnRunner", "fail_stale_turns"]
