"""The data tools' system prompt tells the model today's date (UTC), afresh on every turn."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

from qna_agent.agent.loop import Agent
from qna_agent.agent.tools.registry import ToolRegistry
from qna_agent.agent.tools.sql.prompt import sql_system_prompt
from qna_agent.agent.types import ChatMessage, ModelResponse, ToolSpec
from tests.fakes import ScriptedModel
from tests.support.agent import collect


def answer(_messages: Sequence[ChatMessage], _tools: Sequence[ToolSpec]) -> ModelResponse:
    return ModelResponse(content="ok")


async def test_each_turn_is_told_the_date_of_that_turn() -> None:
    moments = iter(
        [
            datetime(2026, 11, 30, 23, 59, tzinfo=UTC),
            # Past midnight in Berlin, still 30 November in UTC: the date is UTC's.
            datetime(2026, 12, 1, 0, 30, tzinfo=timezone(timedelta(hours=2))),
            datetime(2026, 12, 1, 0, 1, tzinfo=UTC),
        ]
    )
    prompt = sql_system_prompt("You answer questions.", "sqlite", clock=lambda: next(moments))
    model = ScriptedModel(answer)
    agent = Agent(model, ToolRegistry(), system_prompt=prompt, max_steps=2)
    for _ in range(3):
        await collect(agent, "How many orders were returned last month?")
    systems = [call[0][0].content for call in model.calls]
    assert all(text.startswith("You answer questions.\n\nYou can also query") for text in systems)
    assert "Today is Monday 2026-11-30 (UTC)" in systems[0]
    assert "Today is Monday 2026-11-30 (UTC)" in systems[1]
    assert "Today is Tuesday 2026-12-01 (UTC)" in systems[2]
    assert "'last month'" in systems[2]


async def test_a_plain_prompt_is_used_as_it_is() -> None:
    model = ScriptedModel(answer)
    await collect(Agent(model, ToolRegistry(), system_prompt="sys", max_steps=2), "hi")
    assert model.calls[0][0][0].content == "sys"
