"""One `/v1/chat/completions` answer: the agent in a task of its own, metered and accounted.

The agent runs in a task that feeds a queue, so the stream can send keep-alive comments while
a tool step is quiet (a proxy would otherwise time the connection out) without cancelling the
model call it waits for. Whatever the outcome (an answer, an error, a client that left and so
cancelled the run), the tokens the model used are charged to the principal's daily budget and
counted in `llm_cost_total`, exactly like a stored turn's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import structlog

from qna_agent.agent.loop import Agent, UsageMeter
from qna_agent.agent.types import AgentEvent, AgentResult, ChatMessage, Usage
from qna_agent.errors import QnaError, UpstreamError, UpstreamTimeout

log = structlog.get_logger(__name__)

Item = AgentEvent | QnaError
UsageSink = Callable[[str, Usage], Awaitable[None]]


class CompletionRun:
    """The agent answering one request; `items()` yields its events, the last an AgentResult
    or the QnaError it ended with."""

    def __init__(
        self,
        agent: Agent,
        history: Sequence[ChatMessage],
        *,
        stream: bool,
        timeout: float,
        on_usage: UsageSink,
    ) -> None:
        self._agent = agent
        self._timeout = timeout
        self._on_usage = on_usage
        self._meter = UsageMeter()
        self._items: asyncio.Queue[Item] = asyncio.Queue()
        self.task = asyncio.create_task(self._produce(history, stream), name="v1-completion")

    async def _produce(self, history: Sequence[ChatMessage], stream: bool) -> None:
        item: Item = UpstreamError("the agent returned no answer", upstream="agent")
        try:
            async with asyncio.timeout(self._timeout):
                async for event in self._agent.run(history, stream=stream, meter=self._meter):
                    if isinstance(event, AgentResult):
                        item = event
                    else:
                        self._items.put_nowait(event)
        except TimeoutError:
            item = UpstreamTimeout(f"the turn took longer than {self._timeout:g} s")
        except QnaError as exc:
            item = exc
        except Exception as exc:  # a bug: answer honestly, log it once
            log.exception("completion_crashed")
            item = UpstreamError(f"the agent failed: {type(exc).__name__}", upstream="agent")
        finally:  # cancelled too: what the model used is paid for
            model = self._meter.model or self._agent.model.model
            await self._on_usage(model, self._meter.usage)
        self._items.put_nowait(item)

    async def items(self, *, quiet_seconds: float | None = None) -> AsyncIterator[Item | None]:
        """The run's events; None after `quiet_seconds` without one (time for a keep-alive).
        Leaving early (the client went away) cancels the run."""
        try:
            while True:
                try:
                    item = await asyncio.wait_for(self._items.get(), timeout=quiet_seconds)
                except TimeoutError:
                    yield None
                    continue
                if isinstance(item, AgentResult | QnaError):
                    await asyncio.shield(self.task)  # accounted for before the client hears
                    yield item
                    return
                yield item
        finally:
            self.task.cancel()

    async def result(self) -> AgentResult:
        """The answer, or raises the error the run ended with."""
        async for item in self.items():
            if isinstance(item, QnaError):
                raise item
            if isinstance(item, AgentResult):
                return item
        raise AssertionError("unreachable: a run always ends with a result or an error")
