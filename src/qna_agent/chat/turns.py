"""Running a turn: store the question, run the agent, store the answer, never lose either.

The user's message and an `in_progress` assistant message are committed before the model is
called. The agent runs in a task of its own, so a client that disconnects (or a request that
is cancelled) does not stop the turn: its outcome is stored as `completed` or `failed`.
Events flow to whoever listens through a queue. A turn cancelled on purpose (`Turn.cancel`)
is stored as `failed` with the usage it had run up. A failed turn can be run again (`retry`):
the same assistant message is reused, and its usage adds up over the attempts.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from qna_agent.agent.loop import Agent, UsageMeter
from qna_agent.agent.pricing import PriceTable
from qna_agent.agent.types import (
    AgentEvent,
    AgentResult,
    ChatMessage,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    Usage,
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
from qna_agent.errors import Conflict, NotFound, QnaError, UpstreamError, UpstreamTimeout
from qna_agent.observability import metrics, tracing

log = structlog.get_logger(__name__)

INTERRUPTED = "interrupted: the server stopped before this turn finished"
CANCELLED = "cancelled: the client disconnected before the turn finished"


class TurnCancelled(QnaError):
    """The turn was cancelled before it finished (its client went away)."""

    title = "Turn cancelled"


@dataclass(frozen=True, slots=True)
class TurnFinished:
    """The turn ended; `message` is the stored assistant message, `error` set if it failed."""

    message: Message
    error: QnaError | None = None


TurnEvent = TextDelta | ToolCallStarted | ToolCallFinished | TurnFinished


def progress_event(
    event: TextDelta | ToolCallStarted | ToolCallFinished, message_id: str
) -> tuple[str, dict[str, Any]]:
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


BeforeCommit = Callable[[AsyncSession, Message], Awaitable[None]]


@dataclass(slots=True)
class Turn:
    """A running turn: its stored messages, its events, and the task that runs it."""

    user_message: Message
    assistant_message: Message
    events: asyncio.Queue[TurnEvent] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[TurnFinished] | None = None
    earlier_usage: Usage = field(default_factory=Usage)
    earlier_cost_micros: int = 0

    def cancel(self) -> None:
        """Stop the turn; it is stored as `failed` with the usage run up so far."""
        if self.task is not None and not self.task.done():
            self.task.cancel()

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
        self,
        database: Database,
        agent: Agent,
        *,
        history_messages: int,
        turn_timeout: float,
        prices: PriceTable | None = None,
    ) -> None:
        self._database = database
        self._agent = agent
        self._history_messages = history_messages
        self._turn_timeout = turn_timeout
        self._prices = prices or PriceTable({})
        self._tasks: set[asyncio.Task[TurnFinished]] = set()
        self._running: dict[uuid.UUID, Turn] = {}

    @property
    def in_flight(self) -> int:
        """Turns still running."""
        return len(self._tasks)

    def running(self, message_id: uuid.UUID) -> Turn | None:
        """The turn answering `message_id`, while it runs in this process."""
        return self._running.get(message_id)

    async def start(
        self,
        *,
        owner_id: str,
        chat_id: uuid.UUID,
        content: str,
        stream: bool,
        before_commit: BeforeCommit | None = None,
    ) -> Turn:
        """Commit the question and an in-progress answer, then run the agent in a task.

        `before_commit(session, assistant_message)` runs in the same transaction (quotas,
        idempotency records); if it raises, nothing is stored and no turn starts.
        """
        async with self._database.write_sessions.begin() as session:
            await repository.get_chat(session, owner_id=owner_id, chat_id=chat_id)
            # Ids are made here, so the history is read first and both rows go in one flush:
            # each statement is a round trip to the database (to its thread, on SQLite).
            user_id = uuid7()
            prompt = await self._history(session, chat_id=chat_id, before=user_id)
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
            if before_commit is not None:
                await before_commit(session, assistant)
        prompt.append(ChatMessage("user", content))
        metrics.USER_MESSAGES.inc()
        return self._launch(Turn(user_message, assistant), prompt, stream)

    async def retry(
        self, *, owner_id: str, chat_id: uuid.UUID, message_id: uuid.UUID, stream: bool
    ) -> Turn:
        """Run a failed turn again, into the same assistant message; Conflict unless failed."""
        async with self._database.write_sessions.begin() as session:
            await repository.get_chat(session, owner_id=owner_id, chat_id=chat_id)
            assistant = await repository.get_message(
                session, chat_id=chat_id, message_id=message_id
            )
            if assistant.role != ROLE_ASSISTANT or assistant.parent_id is None:
                raise Conflict("only an assistant message can be retried", resource="message")
            question = await repository.get_message(
                session, chat_id=chat_id, message_id=assistant.parent_id
            )
            reopened = await repository.reopen_failed(session, message_id=message_id)
            if reopened is None:
                raise Conflict(
                    f"message {message_id} is {assistant.status}; only a failed turn can be "
                    "retried",
                    resource="message",
                    message_status=assistant.status,
                )
            prompt = await self._history(session, chat_id=chat_id, before=question.id)
        prompt.append(ChatMessage("user", question.content))
        turn = Turn(
            question,
            reopened,
            earlier_usage=Usage(reopened.prompt_tokens, reopened.completion_tokens),
            earlier_cost_micros=reopened.cost_micros,
        )
        return self._launch(turn, prompt, stream)

    async def _history(
        self, session: AsyncSession, *, chat_id: uuid.UUID, before: uuid.UUID
    ) -> list[ChatMessage]:
        history = await repository.conversation(
            session, chat_id=chat_id, before=before, limit=self._history_messages
        )
        return [
            ChatMessage("user" if m.role == ROLE_USER else "assistant", m.content) for m in history
        ]

    def _launch(self, turn: Turn, prompt: list[ChatMessage], stream: bool) -> Turn:
        message_id = turn.assistant_message.id
        task = asyncio.create_task(self._run(turn, prompt, stream), name=f"turn-{message_id}")
        turn.task = task
        self._tasks.add(task)
        self._running[message_id] = turn
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _: self._running.pop(message_id, None))
        return turn

    async def _run(self, turn: Turn, prompt: list[ChatMessage], stream: bool) -> TurnFinished:
        """The turn inside its `invoke_agent` span; counts the outcome."""
        # This task runs in a copy of the request's context: the ids reach every line of the
        # turn (model and tool calls included) and nothing outside it.
        structlog.contextvars.bind_contextvars(
            chat_id=str(turn.user_message.chat_id), message_id=str(turn.assistant_message.id)
        )
        # Message contents are for debugging only: never logged above DEBUG.
        log.debug("turn_started", question=prompt[-1].content)
        with tracing.span(
            "invoke_agent qna-agent",
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "qna-agent",
                "gen_ai.conversation.id": str(turn.user_message.chat_id),
                "qna.stream": stream,
            },
        ) as span:
            finished = await self._run_agent(turn, prompt, stream)
            status = finished.message.status
            span.set_attribute("qna.turn.status", status)
            if finished.error is not None:
                tracing.set_error(span, type(finished.error).__name__)
        metrics.ASSISTANT_MESSAGES.inc()
        metrics.TURNS.labels(status).inc()
        return finished

    async def _run_agent(self, turn: Turn, prompt: list[ChatMessage], stream: bool) -> TurnFinished:
        started = time.perf_counter()
        message_id = turn.assistant_message.id
        bound = log.bind(chat_id=str(turn.user_message.chat_id), message_id=str(message_id))
        error: QnaError | None = None
        result: AgentResult | None = None
        meter = UsageMeter()
        try:
            async with asyncio.timeout(self._turn_timeout):
                async for event in self._agent.run(prompt, stream=stream, meter=meter):
                    if isinstance(event, AgentResult):
                        result = event
                    else:
                        turn.events.put_nowait(event)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()  # cancelled on purpose: store the outcome, then end normally
            bound.info("turn_cancelled")
            error = TurnCancelled(CANCELLED, upstream="client")
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
        model = meter.model or self._agent.model.model
        usage = turn.earlier_usage + meter.usage
        attempt_cost = self._prices.cost_micros(model, meter.usage)
        cost = turn.earlier_cost_micros + attempt_cost
        if attempt_cost:
            metrics.LLM_COST.labels(model, self._prices.currency).inc(attempt_cost / 1_000_000)
        values: dict[str, object] = {
            "latency_ms": latency_ms,
            "updated_at": utcnow(),
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "cost_micros": cost,
            "model": model,
        }
        if result is not None:
            values.update(
                status=STATUS_COMPLETED,
                content=result.content,
                citations=[asdict(c) for c in result.citations],
                tool_calls=[asdict(t) for t in result.tool_calls],
            )
        else:
            error = error or UpstreamError("the agent returned no answer", upstream="agent")
            values.update(status=STATUS_FAILED, error=error.detail)
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


__all__ = [
    "AgentEvent",
    "Turn",
    "TurnCancelled",
    "TurnEvent",
    "TurnFinished",
    "TurnRunner",
    "fail_stale_turns",
]
