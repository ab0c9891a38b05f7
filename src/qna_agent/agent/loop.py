"""The bounded tool-calling loop.

Each step asks the model for an answer; tool calls it makes run concurrently and their results
(errors included, so the model can correct itself) go back as tool messages. The last allowed
step offers no tools, so the turn always ends with an answer. The caller bounds the time.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from qna_agent.agent.history import TextCounter, estimate_text_tokens, fit_to_budget
from qna_agent.agent.models.protocol import ChatModel
from qna_agent.agent.tools.execution import loose_arguments, run_tool_call
from qna_agent.agent.tools.registry import ToolContext, ToolRegistry
from qna_agent.agent.types import (
    AgentEvent,
    AgentResult,
    ChatMessage,
    Citation,
    FinishReason,
    ModelResponse,
    TextDelta,
    ToolCallFinished,
    ToolCallRecord,
    ToolCallStarted,
    ToolSpec,
    Usage,
)
from qna_agent.observability import tracing

_CITATION_MARK = re.compile(r"\[(\d{1,3})\]")
MAX_TOOL_OUTPUT_CHARS = 24_000
# What a model call's answer is assumed to take when no output limit is configured: a cited
# answer of a few paragraphs. `LLM_MAX_OUTPUT_TOKENS` makes it a bound the model is held to.
DEFAULT_ANSWER_TOKENS = 1024
# A message's framing in the chat format (role, separators), as OpenAI counts it.
MESSAGE_OVERHEAD_TOKENS = 4


def cited(content: str, citations: Sequence[Citation]) -> list[Citation]:
    """The citations the answer refers to with `[n]` marks, in reference order."""
    used = {int(number) for number in _CITATION_MARK.findall(content)}
    return [citation for citation in citations if citation.ref in used]


class CallBudget(Protocol):
    """What pays for model calls: asked to cover each call before it is made."""

    async def cover(self, tokens: int, *, spent: int) -> None:
        """Hold `tokens` more for the next call (`spent` so far); raise to refuse the call."""
        ...


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
    """Usage of a turn so far, readable even when the turn fails or is cancelled midway;
    `budget`, when set, covers every model call before it is made."""

    usage: Usage = field(default_factory=Usage)
    model: str = ""
    budget: CallBudget | None = None

    @property
    def spent(self) -> int:
        """Tokens used so far, prompt and completion."""
        return self.usage.prompt_tokens + self.usage.completion_tokens


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
        answer_tokens: int | None = None,
    ) -> None:
        self.model = model
        self.tools = tools
        self.system_prompt = system_prompt
        self.max_steps = max_steps
        self.history_tokens = history_tokens
        self.count_tokens = count_tokens
        self.answer_tokens = answer_tokens or DEFAULT_ANSWER_TOKENS
        self._counted_specs: dict[str, int] = {}

    def call_tokens(self, prompt: Sequence[ChatMessage], specs: Sequence[ToolSpec]) -> int:
        """An upper bound of one model call's usage: the prompt and the tool specs as counted,
        plus the answer allowance (what the budget reserves before the call)."""
        total = self.answer_tokens
        for message in prompt:
            total += MESSAGE_OVERHEAD_TOKENS + self.count_tokens(message.content)
            for call in message.tool_calls:
                total += self.count_tokens(call.name) + self.count_tokens(call.arguments)
        return total + sum(self._spec_tokens(spec) for spec in specs)

    def _spec_tokens(self, spec: ToolSpec) -> int:
        # The tools do not change while the service runs: each is counted once.
        tokens = self._counted_specs.get(spec.name)
        if tokens is None:
            schema = json.dumps(spec.parameters, separators=(",", ":"))
            tokens = sum(map(self.count_tokens, (spec.name, spec.description, schema)))
            self._counted_specs[spec.name] = tokens
        return tokens

    def first_call_tokens(self, history: Sequence[ChatMessage]) -> int:
        """`call_tokens` of the first call of a turn on `history` (tools offered)."""
        specs = self.tools.specs() if self.max_steps > 1 else []
        return self.call_tokens([ChatMessage("system", self._system()), *history], specs)

    def _system(self) -> str:
        # A callable prompt is made afresh per turn (the SQL tools tell the model today's date).
        return self.system_prompt() if callable(self.system_prompt) else self.system_prompt

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
        messages = [ChatMessage("system", self._system()), *history]
        context = ToolContext()
        records: list[ToolCallRecord] = []
        meter = meter or UsageMeter()
        texts: list[str] = []
        meter.model = meter.model or self.model.model
        for step in range(1, self.max_steps + 1):
            with tracing.span("agent step", {"qna.agent.step": step}):
                specs = self.tools.specs() if step < self.max_steps else []
                response: ModelResponse | None = None
                async for item in self._ask(
                    messages, specs, stream=stream, follows=bool(texts), meter=meter
                ):
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
                    yield ToolCallStarted(call.id, call.name, loose_arguments(call.arguments))
                outcomes = await asyncio.gather(
                    *(run_tool_call(self.tools, call, context) for call in response.tool_calls)
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
        meter: UsageMeter,
    ) -> AsyncIterator[TextDelta | ModelResponse]:
        """One model call, covered by the meter's budget first: its text as it comes (when
        streaming), then its response.

        `follows` says earlier steps wrote text, so this step's text is set apart from it."""
        prompt = self._prompt(messages)
        if meter.budget is not None:
            await meter.budget.cover(self.call_tokens(prompt, specs), spent=meter.spent)
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
