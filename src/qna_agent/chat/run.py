"""A turn's task: the agent under the turn's time budget, its outcome stored (for a stored
turn), accounted, and told to the listeners, whatever happened on the way.

`run_agent` is the one place that runs the agent: the timeout, a cancel (on request, by a
client that left, by a shutdown) and the mapping of every failure to the error the client
sees. `run_turn` (stored turns) and `run_answer` (stateless `/v1` answers) wrap it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from typing import Any

import structlog

from qna_agent.agent.loop import Agent, UsageMeter
from qna_agent.agent.pricing import PriceTable
from qna_agent.agent.types import AgentResult, ChatMessage, Usage
from qna_agent.chat import accounting, outcome
from qna_agent.chat.events import CANCELLED, AnswerFinished, TurnCancelled, TurnFinished
from qna_agent.chat.models import STATUS_COMPLETED, STATUS_FAILED
from qna_agent.chat.turn import Answer, Run, Turn
from qna_agent.db.base import utcnow
from qna_agent.db.engine import Database
from qna_agent.errors import NotFound, QnaError, ServiceUnavailable, UpstreamError, UpstreamTimeout
from qna_agent.observability import tracing
from qna_agent.observability.tracing import SpanLike

log = structlog.get_logger(__name__)

# When even the minimal failure record cannot be written the database is down: a client that
# asks again should wait a moment.
STORE_FAILED_RETRY_AFTER = 5


@dataclass(frozen=True, slots=True)
class TurnContext:
    """What a turn's task needs from the engine."""

    database: Database
    agent: Agent
    prices: PriceTable
    timeout: float


async def run_agent(
    context: TurnContext,
    run: Run[Any],
    prompt: Sequence[ChatMessage],
    *,
    stream: bool,
    meter: UsageMeter,
) -> AgentResult | QnaError:
    """Run the agent, passing its events on to `run`; its result, or why there is none."""
    meter.budget = run.ticket.reservation if run.ticket is not None else None
    result: AgentResult | None = None
    try:
        async with asyncio.timeout(context.timeout):
            async for event in context.agent.run(prompt, stream=stream, meter=meter):
                if isinstance(event, AgentResult):
                    result = event
                else:
                    run.events.put_nowait(event)
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None:
            current.uncancel()  # cancelled on purpose: account for it, then end normally
        log.info("turn_cancelled")
        return run.stop_reason or TurnCancelled(CANCELLED, upstream="client")
    except TimeoutError:
        return UpstreamTimeout(f"the turn took longer than {context.timeout:g} s", upstream="agent")
    except QnaError as exc:
        return exc
    except Exception as exc:  # a bug: an honest error, logged once
        log.exception("turn_crashed")
        return UpstreamError(f"the agent failed: {type(exc).__name__}", upstream="agent")
    return result or UpstreamError("the agent returned no answer", upstream="agent")


def _span(chat_id: str | None, stream: bool) -> AbstractContextManager[SpanLike]:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "qna-agent",
        "qna.stream": stream,
    }
    if chat_id is not None:
        attributes["gen_ai.conversation.id"] = chat_id
    return tracing.span("invoke_agent qna-agent", attributes)


async def run_turn(
    context: TurnContext, turn: Turn, prompt: list[ChatMessage], stream: bool
) -> TurnFinished:
    """A stored turn inside its `invoke_agent` span; counts and settles it; always tells
    the end."""
    # This task runs in a copy of the request's context: the ids reach every line of the
    # turn (model and tool calls included) and nothing outside it.
    structlog.contextvars.bind_contextvars(
        chat_id=str(turn.user_message.chat_id), message_id=str(turn.assistant_message.id)
    )
    # Message contents are for debugging only: never logged above DEBUG.
    log.debug("turn_started", question=prompt[-1].content)
    finished = TurnFinished(turn.assistant_message, UpstreamError("the turn failed"))
    try:
        with _span(str(turn.user_message.chat_id), stream) as span:
            finished = await _run_stored(context, turn, prompt, stream)
            span.set_attribute("qna.turn.status", finished.message.status)
            if finished.error is not None:
                tracing.set_error(span, type(finished.error).__name__)
    except Exception:  # a bug past the agent: the listeners must still hear the end
        log.exception("turn_crashed")
        error = UpstreamError("the turn failed unexpectedly", upstream="agent")
        finished = TurnFinished(turn.assistant_message, error)
    finally:
        await accounting.settle(turn.ticket, finished.usage)
    accounting.count_turn(finished.message.status)
    turn.events.put_nowait(finished)
    return finished


async def run_answer(
    context: TurnContext, answer: Answer, history: Sequence[ChatMessage], stream: bool
) -> AnswerFinished:
    """A stateless answer inside its span; accounted like a stored turn, nothing stored."""
    meter = UsageMeter()
    finished = AnswerFinished(None, UpstreamError("the answer failed"))
    try:
        with _span(None, stream) as span:
            result = await run_agent(context, answer, history, stream=stream, meter=meter)
            if isinstance(result, AgentResult):
                finished = AnswerFinished(result, None, meter.usage)
            else:
                finished = AnswerFinished(None, result, meter.usage)
                tracing.set_error(span, type(result).__name__)
    finally:  # cancelled too: what the model used is paid for
        model = meter.model or context.agent.model.model
        accounting.record_cost(context.prices, model, meter.usage)
        await accounting.settle(answer.ticket, meter.usage)
    answer.events.put_nowait(finished)
    return finished


async def _run_stored(
    context: TurnContext, turn: Turn, prompt: list[ChatMessage], stream: bool
) -> TurnFinished:
    started = time.perf_counter()
    meter = UsageMeter()
    answer = await run_agent(context, turn, prompt, stream=stream, meter=meter)
    turn.storing = True
    latency_ms = round((time.perf_counter() - started) * 1000)
    model = meter.model or context.agent.model.model
    usage = turn.earlier_usage + meter.usage
    cost = turn.earlier_cost_micros + accounting.record_cost(context.prices, model, meter.usage)
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
            finish_reason=answer.finish_reason,
        )
    else:
        error = answer
        values.update(status=STATUS_FAILED, error=error.detail, finish_reason=None)
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
