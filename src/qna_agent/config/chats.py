"""Settings of chats and turns as clients see them: message size, streaming, durability."""

from __future__ import annotations

from pydantic import Field

from qna_agent.config.base import SettingsGroup


class ChatSettings(SettingsGroup):
    """Limits and timing of messages, streams and running turns, and the `/v1` model name."""

    max_message_chars: int = Field(
        8000,
        ge=1,
        le=200_000,
        description="Longest message that may reach the model (characters): a question, and "
        "on `/v1` every message of the conversation, system and developer ones included.",
    )
    sse_keepalive_seconds: float = Field(
        15.0, gt=0, description="Interval of SSE keep-alive comments while a turn is quiet."
    )
    stream_cancel_on_disconnect: bool = Field(
        False,
        description="Cancel a streamed turn when its client disconnects (stored as `failed`). "
        "By default the turn runs to completion and is stored.",
    )
    openai_compat_model: str = Field(
        "qna-agent",
        min_length=1,
        max_length=200,
        description="Model name under which `/v1/chat/completions` serves the agent.",
    )
    turn_heartbeat_seconds: float = Field(
        3.0,
        gt=0,
        le=60,
        description="How often a process marks the turns it runs as alive (one UPDATE for all) "
        "and picks up cancel requests from other replicas. A turn whose heartbeat is 5 periods "
        "old is an orphan of a dead process and is failed as `interrupted`.",
    )
