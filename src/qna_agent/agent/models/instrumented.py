"""A ChatModel wrapper that measures every call: metrics, one log line, one span.

It wraps whatever provider the settings chose (`build_services` applies it), so providers and
the loop stay free of instrumentation. The span is a GenAI `chat` span and is current while
the provider sends its request, so the provider's HTTP client propagates it (`traceparent`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence

import structlog

from qna_agent.agent.models.protocol import ChatModel
from qna_agent.agent.types import ChatMessage, ModelResponse, TextDelta, ToolSpec
from qna_agent.errors import UpstreamTimeout
from qna_agent.observability import metrics, tracing
from qna_agent.observability.tracing import OpenSpanLike

log = structlog.get_logger(__name__)


def _status(error: BaseException | None) -> str:
    if error is None:
        return "ok"
    if isinstance(error, UpstreamTimeout | TimeoutError):
        return "timeout"
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        return "cancelled"
    return "error"


class InstrumentedModel:
    """Delegates to `inner`; records `llm_*` metrics, an `llm_call_finished` line and a span."""

    def __init__(self, inner: ChatModel) -> None:
        self.inner = inner
        self.provider = inner.provider
        self.model = inner.model
        self._duration = metrics.LLM_DURATION.labels(self.provider, self.model)
        self._input_tokens = metrics.LLM_TOKENS.labels(self.model, "input")
        self._output_tokens = metrics.LLM_TOKENS.labels(self.model, "output")
        self._span_name = f"chat {self.model}"

    def _start(self, tools: Sequence[ToolSpec], stream: bool) -> OpenSpanLike | None:
        return tracing.open_span(
            self._span_name,
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": self.provider,
                "gen_ai.system": self.provider,
                "gen_ai.request.model": self.model,
                "qna.llm.tools_offered": len(tools),
                "qna.llm.stream": stream,
            },
        )

    def _finish(
        self,
        started: float,
        span: OpenSpanLike | None,
        response: ModelResponse | None,
        error: BaseException | None,
    ) -> None:
        duration = time.perf_counter() - started
        status = _status(error)
        metrics.LLM_CALLS.labels(self.provider, self.model, status).inc()
        self._duration.observe(duration)
        fields: dict[str, object] = {
            "provider": self.provider,
            "model": self.model,
            "status": status,
            "duration_ms": round(duration * 1000, 2),
        }
        if response is not None:
            usage = response.usage
            if usage.prompt_tokens:
                self._input_tokens.inc(usage.prompt_tokens)
            if usage.completion_tokens:
                self._output_tokens.inc(usage.completion_tokens)
            fields.update(
                response_model=response.model or self.model,
                input_tokens=usage.prompt_tokens,
                output_tokens=usage.completion_tokens,
                tool_calls=len(response.tool_calls),
                finish_reason=response.finish_reason,
            )
            if span is not None:
                span.set_attribute("gen_ai.response.model", response.model or self.model)
                span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
                span.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens)
                if response.finish_reason is not None:  # semconv: a list, one per choice
                    span.set_attribute("gen_ai.response.finish_reasons", [response.finish_reason])
        if span is not None:
            span.finish(error if status != "ok" else None)
        if error is None:
            log.info("llm_call_finished", **fields)
        else:
            log.warning("llm_call_failed", error=type(error).__name__, **fields)

    async def complete(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> ModelResponse:
        """One step, answered whole."""
        started = time.perf_counter()
        span = self._start(tools, stream=False)
        token = span.attach() if span is not None else None
        try:
            response = await self.inner.complete(messages, tools)
        except BaseException as exc:
            self._finish(started, span, None, exc)
            raise
        finally:
            if span is not None:
                span.detach(token)
        self._finish(started, span, response, None)
        return response

    async def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> AsyncIterator[TextDelta | ModelResponse]:
        """One step, streamed; the span is current only while the provider works."""
        started = time.perf_counter()
        span = self._start(tools, stream=True)
        items = aiter(self.inner.stream(messages, tools))
        response: ModelResponse | None = None
        try:
            while True:
                token = span.attach() if span is not None else None
                try:
                    item = await anext(items)
                except StopAsyncIteration:
                    break
                finally:
                    if span is not None:
                        span.detach(token)
                if isinstance(item, ModelResponse):
                    response = item
                yield item
        except BaseException as exc:
            self._finish(started, span, None, exc)
            raise
        self._finish(started, span, response, None)

    async def aclose(self) -> None:
        """Release the provider's connections."""
        await self.inner.aclose()


def instrument(model: ChatModel) -> ChatModel:
    """`model`, measured (never wrapped twice)."""
    return model if isinstance(model, InstrumentedModel) else InstrumentedModel(model)
