"""Why an answer ended: read from the provider, carried on the turn's AgentResult."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import pytest

from qna_agent.agent.loop import Agent, finish_reason
from qna_agent.agent.models.extractive import ExtractiveModel
from qna_agent.agent.models.openai import OpenAIChatModel
from qna_agent.agent.models.protocol import ChatModel
from qna_agent.agent.tools.registry import ToolOutput, ToolRegistry
from qna_agent.agent.types import (
    AgentEvent,
    AgentResult,
    ChatMessage,
    ModelResponse,
    TextDelta,
    ToolCall,
    ToolSpec,
)
from tests.fakes import FakeLLM, Reply, text, tool_call


class Replies:
    """A model that gives these responses in order; streamed, the content comes word by word."""

    provider = "replies"
    model = "replies-1"

    def __init__(self, *responses: ModelResponse) -> None:
        self.responses = list(responses)

    async def complete(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> ModelResponse:
        return self.responses.pop(0)

    async def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> AsyncIterator[TextDelta | ModelResponse]:
        response = self.responses.pop(0)
        for word in response.content.split(" ") if response.content else []:
            yield TextDelta(word)
        yield response

    async def aclose(self) -> None:
        return None


async def lookup() -> ToolOutput:
    """Look something up."""
    return ToolOutput("found", "found")


def agent(model: ChatModel, max_steps: int = 4) -> Agent:
    tools = ToolRegistry()
    tools.register(lookup)
    return Agent(model, tools, system_prompt="Answer.", max_steps=max_steps)


async def events(model: ChatModel, *, stream: bool, max_steps: int = 4) -> list[AgentEvent]:
    history = [ChatMessage("user", "What is the return window?")]
    return [event async for event in agent(model, max_steps).run(history, stream=stream)]


def result_of(turn: list[AgentEvent]) -> AgentResult:
    last = turn[-1]
    assert isinstance(last, AgentResult)
    return last


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (ModelResponse("Done."), None),
        (ModelResponse("Done.", finish_reason="stop"), "stop"),
        (ModelResponse("The return win", finish_reason="length"), "length"),
        (ModelResponse("The return win", finish_reason="max_tokens"), "length"),
        (ModelResponse("", finish_reason="content_filter"), "content_filter"),
        (ModelResponse("", finish_reason="stop", refusal="No."), "refusal"),
        (ModelResponse("", (ToolCall("c", "lookup", "{}"),), finish_reason="tool_calls"), "stop"),
        (ModelResponse("Done.", finish_reason="eos"), "stop"),
    ],
)
def test_finish_reasons_come_down_to_four_words(
    response: ModelResponse, expected: str | None
) -> None:
    assert finish_reason(response) == expected


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_a_truncated_answer_is_marked_as_such(stream: bool) -> None:
    model = Replies(
        ModelResponse("", (ToolCall("c1", "lookup", "{}"),), finish_reason="tool_calls"),
        ModelResponse("The return window is", finish_reason="length"),
    )
    result = result_of(await events(model, stream=stream))
    assert (result.content, result.finish_reason, result.steps) == (
        "The return window is",
        "length",
        2,
    )


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
async def test_a_refusal_is_the_answer_when_there_is_no_content(stream: bool) -> None:
    model = Replies(ModelResponse("", finish_reason="stop", refusal="I can't help with that."))
    turn = await events(model, stream=stream)
    result = result_of(turn)
    assert (result.content, result.finish_reason) == ("I can't help with that.", "refusal")
    if stream:  # the streamed text is what gets stored
        deltas = "".join(event.text for event in turn if isinstance(event, TextDelta))
        assert deltas == result.content


async def test_tool_calls_at_the_step_cap_end_as_a_stop() -> None:
    model = Replies(
        ModelResponse("Looking.", (ToolCall("c1", "lookup", "{}"),), finish_reason="tool_calls")
    )
    result = result_of(await events(model, stream=False, max_steps=1))
    assert (result.steps, result.finish_reason) == (1, "stop")


async def test_the_extractive_model_reports_tool_calls_then_a_stop() -> None:
    model = ExtractiveModel(min_overlap=0.2)
    spec = ToolSpec("search_knowledge_base", "Search.", {"type": "object"})
    question = [ChatMessage("user", "What is the return window?")]
    asking = await model.complete(question, [spec])
    assert (bool(asking.tool_calls), asking.finish_reason) == (True, "tool_calls")
    answered = await model.complete(
        [*question, ChatMessage("assistant", "", asking.tool_calls), ChatMessage("tool", "{}")],
        [spec],
    )
    assert (answered.tool_calls, answered.finish_reason) == ((), "stop")


def openai_model(llm: FakeLLM) -> OpenAIChatModel:
    return OpenAIChatModel(
        base_url=llm.base_url, api_key=None, model=llm.model, timeout=10, max_retries=0
    )


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize(
    ("reply", "content", "expected"),
    [
        (text("The return window is", finish_reason="length"), "The return window is", "length"),
        (Reply(refusal="I can't help with that."), "I can't help with that.", "refusal"),
        (text("Thirty days."), "Thirty days.", "stop"),
    ],
    ids=["length", "refusal", "stop"],
)
async def test_the_openai_provider_delivers_why_the_answer_ended(
    fake_llm: FakeLLM, stream: bool, reply: Reply, content: str, expected: str
) -> None:
    fake_llm.script(tool_call("lookup"), reply)
    model = openai_model(fake_llm)
    try:
        result = result_of(await events(model, stream=stream))
    finally:
        await model.aclose()
    assert (result.content, result.finish_reason) == (content, expected)
