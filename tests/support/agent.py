"""Running the agent loop in process."""

from __future__ import annotations

from qna_agent.agent.loop import Agent
from qna_agent.agent.types import AgentEvent, ChatMessage


async def collect(agent: Agent, question: str, *, stream: bool = False) -> list[AgentEvent]:
    """Every event of one run of `agent` on `question`."""
    return [event async for event in agent.run([ChatMessage("user", question)], stream=stream)]
