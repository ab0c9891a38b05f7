"""Settings of the agent's loop: its budget of steps, time and history, and its prompt."""

from __future__ import annotations

from pydantic import Field

from qna_agent.config.base import SettingsGroup


class AgentSettings(SettingsGroup):
    """How far one turn may go and what the model is told."""

    agent_max_steps: int = Field(
        5, ge=1, le=20, description="Most model calls in one turn (tool steps plus the answer)."
    )
    agent_turn_timeout_seconds: float = Field(
        120.0, gt=0, description="Time budget of one whole turn; beyond it the turn fails (504)."
    )
    agent_history_messages: int = Field(
        20, ge=0, le=500, description="Earlier messages of the chat sent with a new question."
    )
    agent_history_tokens: int = Field(
        6000,
        ge=100,
        le=2_000_000,
        description="Token budget of the conversation sent to the model (system prompt and the "
        "new question always kept; oldest turns dropped first).",
    )
    # Unset rather than the text itself: the prompt is the agent's knowledge
    # (`agent/prompts.py`), and settings import nothing of the agent.
    agent_system_prompt: str | None = Field(
        None,
        min_length=1,
        description="System prompt of the agent. Unset: the built-in prompt "
        "(`qna_agent/agent/prompts.py`), which tells the model to answer only from the passages "
        "its tools return, cite each statement like [1], and say so when they hold no answer.",
    )
    extractive_min_overlap: float = Field(
        0.34,
        ge=0,
        le=1,
        description="Offline answerer: share of the question's words a passage must contain "
        "before it is used; below it the answer says it does not know.",
    )
