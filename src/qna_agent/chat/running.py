"""One turn's task: run the agent within the turn's time budget, store the outcome, and tell
the listeners how it ended, whatever happened on the way."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from typing import Any

import structlog

from qna_agent.agent.loop import Agent, UsageMeter
from qna_agent.agent.pricing import PriceTable
from qna_agent.agent.types import AgentResult, ChatMessage, Usage
from qna_agent.chat import outcome
from qna_agent.chat.events import CANCELLED, TurnCancelled, TurnEvent, TurnFinished
from qna_agent.chat.models import STATUS_COMPLETED, STATUS_FAILED, Message
from qna_agent.db.base import utcnow
from qna_agent.db.engine import Database
from qna_agent.errors import NotFound, QnaError, ServiceUnavailable, UpstreamError, UpstreamTimeout
from qna_agent.observability import metrics, tracing

log = structlog.get_logger(__name__)

# When even the minimal failure record cannot be written the database is down: a client that
# asks again should wait a moment.
STORE_FAILED_RETRY_AFTER = 5


@dataclass(slots=True)
class Turn:
    """A running turn: its stored messages, its events, and the task that runs it."""

    user_message: Message
    assistant_message: Message
    events: asyncio.Queue[TurnEvent] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[TurnFinished] | None = None
    earlier_usage: Usage = field(default_factory=Usage)
    earlier_cost_micros: int = 0
    stop_reason: QnaError | None = None
    storing: bool = False

    def cancel(self, reason: QnaError | None = None) -> None:
        """Stop the turn; it is stored as `failed` (with `reason`) and the usage so far.

        Once its outcome is being stored the turn is past stopping: the outcome stands."""
        if self.task is None or self.task.done() or self.storing:
            return
        if self.stop_reason is None:
            self.stop_reason = reason or TurnCancelled(CANCELLED, upstream="client")
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


@dataclass(frozen=True, slots=True)
class TurnContext:
    """What a turn's task needs from its runner."""

    database: Database
    agent: Agent
    prices: PriceTable
    timeout: float


async def run_turn(
    context: TurnContext, turn: Turn, prompt: list[ChatMessage], stream: bool
) -> TurnFinished:
    """The turn inside its `invoke_agent` span; counts the outcome; always tells the end."""
    # This task runs in a copy of the request's context: the ids reach every line of the
    # turn (model and tool calls included) and nothing outside it.
    structlog.contextvars.bind_contextvars(
        chat_id=str(turn.user_message.chat_id), message_id=str(turn.assistant_message.id)
    )
    # Message contents are for debugging only: never logged above DEBUG.
    log.debug("turn_started", question=prompt[-1].content)
    try:
        with tracing.span(
            "invoke_agent qna-agent",
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "qna-agent",
                "gen_ai.conversation.id": str(turn.user_message.chat_id),
                "qna.stream": stream,
            },
        ) as span:
            finished = await _run_agent(context, turn, prompt, stream)
            span.set_attribute("qna.turn.status", finished.message.status)
            if finished.error is not None:
                tracing.set_error(span, type(finished.error).__name__)
    except Exception:  # a bug past the agent: the listeners must still hear the end
        log.exception("turn_crashed")
        error = UpstreamError("the turn failed unexpectedly", upstream="agent")
        finished = TurnFinished(turn.assistant_message, error)
    metrics.ASSISTANT_MESSAGES.inc()
    metrics.TURNS.labels(finished.message.status).inc()
    turn.events.put_nowait(finished)
    return finished


async def _ask(
    context: TurnContext, turn: Turn, prompt: list[ChatMessage], stream: bool, meter: UsageMeter
) -> AgentResult | QnaError:
    """Run the agent, passing its events on; its result, or why there is none."""
    result: AgentResult | None = None
    try:
        async with asyncio.timeout(context.timeout):
            async for event in context.agent.run(prompt, stream=stream, meter=meter):
                if isinstance(event, AgentResult):
                    result = event
                else:
                    turn.events.put_nowait(event)
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None:
            current.uncancel()  # cancelled on purpose: store the outcome, then end normally
        log.info("turn_cancelled")
        return turn.stop_reason or TurnCancelled(CANCELLED, upstream="client")
    except TimeoutError:
        return UpstreamTimeout(f"the turn took longer than {context.timeout:g} s", upstream="agent")
    except QnaError as exc:
        return exc
    except Exception as exc:  # a bug: store an honest record, log it once
        log.exception("turn_crashed")
        return UpstreamError(f"the agent failed: {type(exc).__name__}", upstream="agent")
    return result or UpstreamError("the agent returned no answer", upstream="agent")


async def _run_agent(
    context: TurnContext, turn: Turn, prompt: list[ChatMessage], stream: bool
) -> TurnFinished:
    started = time.perf_counter()
    meter = UsageMeter()
    answer = await _ask(context, turn, prompt, stream, meter)
    turn.storing = True
    latency_ms = round((time.perf_counter() - started) * 1000)
    model = meter.model or context.agent.model.model
    usage = turn.earlier_usage + meter.usage
    cost = turn.earlier_cost_micros + record_cost(context.prices, model, meter.usage)
    values: dict[str, object] = {
        "latency_ms": latency_ms,
        "updated_at": utcnow(),
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "cost_micros": cost,
        "model": model,
    }
    error: QnaError | None = None
    if isinstance(answer, AgentResult):
        values.update(
            status=STATUS_COMPLETED,
            error=None,  # a stop request that came too late
            content=answer.content,
            citations=[asdict(c) for c in answer.citations],
            tool_calls=[asdict(t) for t in answer.tool_calls],
        )
    else:
        error = answer
        values.update(status=STATUS_FAILED, error=error.detail)
    finished = await _store(context.database, turn, values, error, meter.usage)
    log.info(
        "turn_finished",
        status=finished.message.status,
        latency_ms=latency_ms,
        steps=answer.steps if isinstance(answer, AgentResult) else None,
    )
    return finished


async def _store(
    database: Database,
    turn: Turn,
    values: dict[str, Any],
    error: QnaError | None,
    usage: Usage,
) -> TurnFinished:
    message_id = turn.assistant_message.id
    try:
        message = await outcome.write(database, message_id, values)
    except NotFound as exc:  # the chat was deleted while the turn ran
        return TurnFinished(turn.assistant_message, exc, usage)
    except Exception as exc:
        log.error("turn_store_failed", error=type(exc).__name__, exc_info=exc)
        reason = f"the answer could not be stored ({type(exc).__name__}); ask again"
        return await _store_failure(database, turn, reason, usage)
    return TurnFinished(message, error, usage)


async def _store_failure(database: Database, turn: Turn, reason: str, usage: Usage) -> TurnFinished:
    failure = ServiceUnavailable(reason, retry_after=STORE_FAILED_RETRY_AFTER)
    message = turn.assistant_message
    try:
        message = await outcome.write_failure(database, message.id, reason)
    except NotFound as exc:
        return TurnFinished(message, exc, usage)
    except Exception as exc:
        # The row stays `in_progress` with no heartbeat: the sweep fails it as interrupted.
        log.error("turn_failure_store_failed", error=type(exc).__name__)
        message.status, message.error = STATUS_FAILED, reason
    return TurnFinished(message, failure, usage)


def record_cost(prices: PriceTable, model: str, usage: Usage) -> int:
    """The cost of `usage` in micro-units, counted in `llm_cost_total`."""
    cost = prices.cost_micros(model, usage)
    if cost:
        metrics.LLM_COST.labels(model, prices.currency).inc(cost / 1_000_000)
    return cost
