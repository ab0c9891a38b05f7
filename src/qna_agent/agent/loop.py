"""The bounded tool-calling loop.

Each step asks the model for an answer; tool calls it makes run concurrently and their results
(errors included, so the model can correct itself) go back as tool messages. The last allowed
step offers no tools, so the turn always ends with an answer. The caller bounds the time.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import structlog

from qna_agent.agent.history import TextCounter, estimate_text_tokens, fit_to_budget
from qna_agent.agent.models.protocol import ChatModel
from qna_agent.agent.tools.registry import (
    ToolArgumentError,
    ToolContext,
    ToolError,
    ToolOutput,
    ToolRegistry,
)
from qna_agent.agent.types import (
    AgentEvent,
    AgentResult,
    ChatMessage,
    Citation,
    FinishReason,
    ModelResponse,
    TextDelta,
    ToolCall,
    ToolCallFinished,
    ToolCallRecord,
    ToolCallStarted,
    ToolSpec,
    Usage,
)
from qna_agent.observability import metrics, tracing

log = structlog.get_logger(__name__)

_CITATION_MARK = re.compile(r"\[(\d{1,3})\]")
MAX_TOOL_OUTPUT_CHARS = 24_000


def cited(content: str, citations: Sequence[Citation]) -> list[Citation]:
    """The citations the answer refers to with `[n]` marks, in reference order."""
    used = {int(number) for number in _CITATION_MARK.findall(content)}
    return [citation for citation in citations if citation.ref in used]


def finish_reason(response: ModelResponse) -> FinishReason | None:
    """Why the final answer ended, in the four words an AgentResult uses.

    A refusal wins over the provider's word (OpenAI says "stop" for one). Tool calls the loop
    no longer offers tools for, and any word we do not know, count as a normal stop.
    """
    if response.refusal:
        return "refusal"
    match response.finish_reason:
        case None:
            return None
        case "length" | "max_tokens":  # "max_tokens": servers that speak Anthropic's words
            return "length"
        case "content_filter":
            return "content_filter"
        case _:
            return "stop"


@dataclass(slots=True)
class UsageMeter:
    """Usage of a turn so far, readable even when the turn fails or is cancelled midway."""

    usage: Usage = field(default_factory=Usage)
    model: str = ""


class Agent:
    """Runs turns of one model with one set of tools."""

    def __init__(
        self,
        model: ChatModel,
        tools: ToolRegistry,
        *,
        system_prompt: str | Callable[[], str],
        max_steps: int,
        history_tokens: int | None = None,
        count_tokens: TextCounter = estimate_text_tokens,
    ) -> None:
        self.model = model
        self.tools = tools
        self.system_prompt = system_prompt
        self.max_steps = max_steps
        self.history_tokens = history_tokens
        self.count_tokens = count_tokens

    def _prompt(self, messages: list[ChatMessage]) -> list[ChatMessage]:
        if self.history_tokens is None:
            return messages
        return fit_to_budget(messages, self.history_tokens, self.count_tokens)

    async def run(
        self,
        history: Sequence[ChatMessage],
        *,
        stream: bool = False,
        meter: UsageMeter | None = None,
    ) -> AsyncIterator[AgentEvent]:
        """Answer the last user message of `history`; yields events, the last an AgentResult.

        `meter`, when given, is kept up to date with the usage of every model call."""
        # A callable prompt is made afresh per turn (the SQL tools tell the model today's date).
        system = self.system_prompt() if callable(self.system_prompt) else self.system_prompt
        messages = [ChatMessage("system", system), *history]
        context = ToolContext()
        records: list[ToolCallRecord] = []
        meter = meter or UsageMeter()
        texts: list[str] = []
        meter.model = meter.model or self.model.model
        for step in range(1, self.max_steps + 1):
            with tracing.span("agent step", {"qna.agent.step": step}):
                specs = self.tools.specs() if step < self.max_steps else []
                response: ModelResponse | None = None
                async for item in self._ask(messages, specs, stream=stream, follows=bool(texts)):
                    if isinstance(item, TextDelta):
                        yield item
                    else:
                        response = item
                if response is None:  # a provider bug, not a user's problem
                    raise RuntimeError("model stream ended without a response")
                meter.usage += response.usage
                meter.model = response.model or meter.model
                # A refusal without content is the answer.
                if text := response.content or response.refusal or "":
                    texts.append(text)
                if not response.tool_calls or not specs:
                    content = "\n\n".join(texts)
                    yield AgentResult(
                        content=content,
                        citations=cited(content, context.citations),
                        tool_calls=records,
                        usage=meter.usage,
                        model=meter.model,
                        steps=step,
                        finish_reason=finish_reason(response),
                    )
                    return
                messages.append(ChatMessage("assistant", response.content, response.tool_calls))
                for call in response.tool_calls:
                    yield ToolCallStarted(call.id, call.name, _loose_arguments(call.arguments))
                outcomes = await asyncio.gather(
                    *(self._run_tool(call, context) for call in response.tool_calls)
                )
                for call, (output, record) in zip(response.tool_calls, outcomes, strict=True):
                    records.append(record)
                    messages.append(ChatMessage("tool", output.content, tool_call_id=call.id))
                    yield ToolCallFinished(record)
        raise AssertionError("unreachable: the last step offers no tools")  # pragma: no cover

    async def _ask(
        self,
        messages: list[ChatMessage],
        specs: list[ToolSpec],
        *,
        stream: bool,
        follows: bool,
    ) -> AsyncIterator[TextDelta | ModelResponse]:
        """One model call: its text as it comes (when streaming), then its response.

        `follows` says earlier steps wrote text, so this step's text is set apart from it."""
        prompt = self._prompt(messages)
        if not stream:
            yield await self.model.complete(prompt, specs)
            return
        separator_needed = follows
        async for item in self.model.stream(prompt, specs):
            if isinstance(item, TextDelta):
                if item.text and separator_needed:
                    separator_needed = False
                    yield TextDelta("\n\n")
                yield item
                continue
            if item.refusal and not item.content:  # the answer, and not streamed as text
                if separator_needed:
                    yield TextDelta("\n\n")
                yield TextDelta(item.refusal)
            yield item

    async def _run_tool(
        self, call: ToolCall, context: ToolContext
    ) -> tuple[ToolOutput, ToolCallRecord]:
        """Run one tool call inside its span, and count it."""
        # Model output names the tool: only registered names become label values.
        tool = call.name if self.tools.get(call.name) is not None else "unknown"
        with tracing.span(
            f"execute_tool {tool}",
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": tool,
                "gen_ai.tool.call.id": call.id,
            },
        ) as span:
            output, record = await self._call_tool(call, context)
            span.set_attribute("qna.tool.status", record.status)
            if record.status != "ok":
                tracing.set_error(span, record.result_summary[:200])
        metrics.TOOL_CALLS.labels(tool, record.status).inc()
        metrics.TOOL_DURATION.labels(tool).observe(record.duration_ms / 1000)
        return output, record

    async def _call_tool(
        self, call: ToolCall, context: ToolContext
    ) -> tuple[ToolOutput, ToolCallRecord]:
        started = time.perf_counter()
        arguments = _loose_arguments(call.arguments)
        tool = self.tools.get(call.name)
        try:
            if tool is None:
                raise ToolArgumentError(
                    f"unknown tool {call.name!r}; available: {', '.join(self.tools.names)}"
                )
            arguments = tool.parse(call.arguments)
            output = await tool.invoke(context, arguments)
            status: str = "ok"
        except ToolError as exc:
            output, status = ToolOutput(f"Error: {exc}", f"error: {exc}"), "error"
        except Exception as exc:  # a tool failure is reported to the model, not the user
            log.exception("tool_failed", tool=call.name)
            message = f"{type(exc).__name__}: {exc}"
            output, status = ToolOutput(f"Error: the tool failed ({message})", "error"), "error"
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        content = output.content
        if len(content) > MAX_TOOL_OUTPUT_CHARS:
            content = content[:MAX_TOOL_OUTPUT_CHARS] + "\n[output truncated]"
        log.info("tool_called", tool=call.name, status=status, duration_ms=duration_ms)
        record = ToolCallRecord(
            id=call.id,
            name=call.name,
            arguments=arguments,
            status="ok" if status == "ok" else "error",
            result_summary=output.summary,
            duration_ms=duration_ms,
        )
        return ToolOutput(content, output.summary), record


def _loose_arguments(raw: str) -> dict[str, object]:
    """Best-effort arguments for display, before validation."""
    try:
        value = json.loads(raw or "{}")
    except json.JSONDecodeError:
        return {"_raw": raw[:500]}
    return value if isinstance(value, dict) else {"_raw": raw[:500]}
