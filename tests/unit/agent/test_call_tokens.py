"""What the token budget reserves before a model call: the prompt and the tool definitions as
counted (characters / 4), plus the answer allowance; and the call is not made when the
budget refuses it."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from qna_agent.agent.loop import DEFAULT_ANSWER_TOKENS, MESSAGE_OVERHEAD_TOKENS, Agent, UsageMeter
from qna_agent.agent.tools.registry import ToolOutput, ToolRegistry
from qna_agent.agent.types import ChatMessage, ModelResponse, ToolSpec, Usage
from qna_agent.errors import RateLimited
from tests.fakes import ScriptedModel


async def lookup(query: str) -> ToolOutput:
    """Look something up."""
    return ToolOutput(query, query)


def _answer(messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]) -> ModelResponse:
    return ModelResponse("Done.", usage=Usage(100, 10))


def _agent(answer_tokens: int | None = None, *, tools: bool = False) -> Agent:
    registry = ToolRegistry()
    if tools:
        registry.register(lookup)
    return Agent(
        ScriptedModel(_answer),
        registry,
        system_prompt="s" * 400,  # 100 tokens
        max_steps=3,
        answer_tokens=answer_tokens,
    )


def test_a_call_reserves_its_prompt_and_the_answer_allowance() -> None:
    agent = _agent()
    question = ChatMessage("user", "q" * 40)  # 10 tokens
    expected = 2 * MESSAGE_OVERHEAD_TOKENS + 100 + 10 + DEFAULT_ANSWER_TOKENS
    assert agent.first_call_tokens([question]) == expected
    assert _agent(answer_tokens=64).first_call_tokens([question]) == expected - 1024 + 64


def test_the_tools_offered_are_counted() -> None:
    assert _agent(tools=True).first_call_tokens([]) > _agent().first_call_tokens([])


class _Refusing:
    def __init__(self) -> None:
        self.asked: list[int] = []

    async def cover(self, tokens: int, *, spent: int) -> None:
        self.asked.append(tokens)
        raise RateLimited("no budget left", retry_after=60)


async def test_a_refused_call_is_never_made() -> None:
    agent = _agent()
    budget = _Refusing()
    with pytest.raises(RateLimited):
        async for _ in agent.run([ChatMessage("user", "hello")], meter=UsageMeter(budget=budget)):
            pass
    assert budget.asked == [agent.first_call_tokens([ChatMessage("user", "hello")])]
    assert isinstance(agent.model, ScriptedModel) and agent.model.calls == []
