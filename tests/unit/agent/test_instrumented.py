"""The GenAI span of a model call reports the finish reason the model gave, not a guess."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from qna_agent.agent.models.instrumented import InstrumentedModel
from qna_agent.agent.types import ChatMessage, ModelResponse, TextDelta, ToolCall, ToolSpec
from tests.support.observability import recorded_spans


class Answers:
    """A model that always gives one response."""

    provider = "answers"
    model = "answers-1"

    def __init__(self, response: ModelResponse) -> None:
        self.response = response

    async def complete(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> ModelResponse:
        return self.response

    async def stream(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> AsyncIterator[TextDelta | ModelResponse]:
        yield TextDelta(self.response.content)
        yield self.response

    async def aclose(self) -> None:
        return None


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    with recorded_spans() as memory:
        yield memory


async def call(response: ModelResponse, *, stream: bool) -> None:
    model = InstrumentedModel(Answers(response))
    messages = [ChatMessage("user", "Hi")]
    if stream:
        [_ async for _ in model.stream(messages, [])]
    else:
        await model.complete(messages, [])


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize(
    ("response", "reasons"),
    [
        # A guess from the tool calls would say "tool_calls" here.
        (ModelResponse("", (ToolCall("c", "t", "{}"),), finish_reason="length"), ("length",)),
        (ModelResponse("The return win", finish_reason="length"), ("length",)),
        (ModelResponse("Done.", finish_reason="stop"), ("stop",)),
    ],
)
async def test_the_span_carries_the_finish_reason_the_model_gave(
    exporter: InMemorySpanExporter,
    stream: bool,
    response: ModelResponse,
    reasons: tuple[str, ...],
) -> None:
    await call(response, stream=stream)
    [span] = exporter.get_finished_spans()
    assert (span.attributes or {})["gen_ai.response.finish_reasons"] == reasons


async def test_no_finish_reason_is_made_up_when_the_model_gave_none(
    exporter: InMemorySpanExporter,
) -> None:
    await call(ModelResponse("Done."), stream=False)
    [span] = exporter.get_finished_spans()
    assert "gen_ai.response.finish_reasons" not in (span.attributes or {})
