"""The tool registry and the bounded loop, with a scripted model (no HTTP)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Annotated

import pytest
from pydantic import Field

from qna_agent.agent.loop import Agent, cited
from qna_agent.agent.tools.registry import ToolArgumentError, ToolContext, ToolOutput, ToolRegistry
from qna_agent.agent.types import (
    AgentResult,
    ChatMessage,
    Citation,
    ModelResponse,
    TextDelta,
    ToolCall,
    ToolCallFinished,
    ToolCallStarted,
    ToolSpec,
    Usage,
)
from tests.fakes import ScriptedModel
from tests.support.agent import collect


async def weather(
    city: Annotated[str, Field(description="City name.")], days: int = 1
) -> ToolOutput:
    """Get the weather.

    More text that is not part of the description.
    """
    return ToolOutput(f"sunny in {city} for {days} days", "sunny")


async def cite_something(context: ToolContext, topic: str) -> ToolOutput:
    """Return a citable passage."""
    ref = context.cite(Citation(0, f"{topic}.md", topic.title(), topic, "snippet", 1.0))
    return ToolOutput(json.dumps({"ref": ref}), "cited")


def calls(*pairs: tuple[str, dict[str, object]]) -> tuple[ToolCall, ...]:
    return tuple(ToolCall(f"c{i}", name, json.dumps(args)) for i, (name, args) in enumerate(pairs))


def test_schema_comes_from_the_signature() -> None:
    registry = ToolRegistry()
    tool = registry.register(weather)
    spec = tool.spec
    assert spec.name == "weather"
    assert spec.description == "Get the weather."
    assert spec.parameters["properties"]["city"]["description"] == "City name."
    assert spec.parameters["required"] == ["city"]
    assert spec.parameters["additionalProperties"] is False
    context_tool = registry.register(cite_something)
    assert list(context_tool.spec.parameters["properties"]) == ["topic"]
    with pytest.raises(ValueError, match="already registered"):
        registry.register(weather)


def test_arguments_are_validated() -> None:
    tool = ToolRegistry().register(weather)
    assert tool.parse('{"city": "Oslo"}') == {"city": "Oslo", "days": 1}
    for raw, message in [
        ("{", "not valid JSON"),
        ("[]", "JSON object"),
        ('{"days": 2}', "city"),
        ('{"city": "x", "days": "many"}', "days"),
        ('{"city": "x", "extra": 1}', "extra"),
    ]:
        with pytest.raises(ToolArgumentError, match=message):
            tool.parse(raw)


async def test_tool_errors_go_back_to_the_model() -> None:
    registry = ToolRegistry()
    registry.register(weather)

    def respond(messages: Sequence[ChatMessage], _: Sequence[ToolSpec]) -> ModelResponse:
        tool_messages = [m for m in messages if m.role == "tool"]
        if not tool_messages:
            return ModelResponse("", calls(("weather", {"town": "Oslo"}), ("nope", {})))
        return ModelResponse("sorry: " + " | ".join(m.content for m in tool_messages))

    agent = Agent(ScriptedModel(respond), registry, system_prompt="sys", max_steps=3)
    events = await collect(agent, "weather?")
    result = events[-1]
    assert isinstance(result, AgentResult)
    assert "city" in result.content and "unknown tool 'nope'" in result.content
    assert [r.status for r in result.tool_calls] == ["error", "error"]
    assert [type(e) for e in events[:-1]] == [
        ToolCallStarted,
        ToolCallStarted,
        ToolCallFinished,
        ToolCallFinished,
    ]


async def test_step_cap_forces_an_answer_without_tools() -> None:
    registry = ToolRegistry()
    registry.register(weather)
    model = ScriptedModel(
        lambda _, tools: (
            ModelResponse("", calls(("weather", {"city": "x"})))
            if tools
            else ModelResponse("final answer", usage=Usage(1, 1))
        )
    )
    agent = Agent(model, registry, system_prompt="sys", max_steps=3)
    result = (await collect(agent, "loop forever"))[-1]
    assert isinstance(result, AgentResult)
    assert result.content == "final answer"
    assert result.steps == 3
    assert len(result.tool_calls) == 2
    assert [bool(tools) for _, tools in model.calls] == [True, True, False]
    assert model.calls[0][0][0] == ChatMessage("system", "sys")


async def test_parallel_tool_calls_run_concurrently() -> None:
    started = asyncio.Event()
    both = asyncio.Event()
    order: list[str] = []

    async def first() -> ToolOutput:
        """Waits for the second tool: deadlocks unless both run at once."""
        started.set()
        await asyncio.wait_for(both.wait(), timeout=2)
        order.append("first")
        return ToolOutput("1", "1")

    async def second() -> ToolOutput:
        """Releases the first tool."""
        await started.wait()
        both.set()
        order.append("second")
        return ToolOutput("2", "2")

    registry = ToolRegistry()
    registry.register(first)
    registry.register(second)
    model = ScriptedModel(
        lambda messages, _: (
            ModelResponse("done")
            if any(m.role == "tool" for m in messages)
            else ModelResponse("", calls(("first", {}), ("second", {})))
        )
    )
    result = (await collect(Agent(model, registry, system_prompt="s", max_steps=3), "go"))[-1]
    assert isinstance(result, AgentResult)
    assert order == ["second", "first"]
    assert [r.status for r in result.tool_calls] == ["ok", "ok"]


async def test_citations_follow_the_marks_in_the_answer() -> None:
    registry = ToolRegistry()
    registry.register(cite_something)

    def respond(messages: Sequence[ChatMessage], _: Sequence[ToolSpec]) -> ModelResponse:
        if not any(m.role == "tool" for m in messages):
            return ModelResponse(
                "", calls(("cite_something", {"topic": "a"}), ("cite_something", {"topic": "b"}))
            )
        return ModelResponse("Only b matters [2].")

    result = (
        await collect(
            Agent(ScriptedModel(respond), registry, system_prompt="s", max_steps=3),
            "q",
            stream=True,
        )
    )[-1]
    assert isinstance(result, AgentResult)
    assert [c.source for c in result.citations] == ["b.md"]
    assert cited("none here", result.citations) == []


async def test_streaming_separates_text_of_steps() -> None:
    registry = ToolRegistry()
    registry.register(weather)

    def respond(messages: Sequence[ChatMessage], _: Sequence[ToolSpec]) -> ModelResponse:
        if not any(m.role == "tool" for m in messages):
            return ModelResponse("Let me check.", calls(("weather", {"city": "Oslo"})))
        return ModelResponse("It is sunny.")

    events = await collect(
        Agent(ScriptedModel(respond), registry, system_prompt="s", max_steps=3), "q", stream=True
    )
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    result = events[-1]
    assert isinstance(result, AgentResult)
    assert result.content == "Let me check.\n\nIt is sunny."
    assert text.replace(" ", "") == result.content.replace(" ", "")
