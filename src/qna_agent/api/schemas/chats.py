"""Public JSON shapes of chats."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from qna_agent.api.schemas.common import Page
from qna_agent.api.schemas.examples import CHAT, CHAT_ID, USAGE, examples
from qna_agent.api.schemas.types import Metadata, OneLineText
from qna_agent.chat.models import Chat


class ChatCreate(BaseModel):
    """A new chat."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"title": "Returns", "metadata": {"team": "support"}}]},
    )

    title: OneLineText | None = Field(
        None, max_length=200, description="A name for the chat (one line)."
    )
    metadata: Metadata = Field(
        default_factory=dict,
        description="Free key/value pairs for your records: at most 50 keys of up to 64 "
        "characters; values are text (up to 512 characters), numbers, booleans or null.",
    )


class ChatUpdate(BaseModel):
    """Fields to change; omitted fields stay as they are, `null` clears a field."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"title": "Returns and refunds"}]}
    )

    title: OneLineText | None = Field(None, max_length=200, description="`null` removes it.")
    metadata: Metadata | None = Field(
        None, description="Replaces the metadata (limits as on creation); `null` empties it."
    )


class ChatUsageOut(BaseModel):
    """Totals over a chat's answers (failed and retried attempts included)."""

    model_config = examples({**USAGE, "currency": "USD", "assistant_messages": 1})

    prompt_tokens: int
    completion_tokens: int
    cost_micros: int
    currency: str = Field(description="ISO 4217 code of the prices, e.g. USD.")
    assistant_messages: int


class ChatOut(BaseModel):
    """A chat."""

    model_config = examples(CHAT)

    id: uuid.UUID
    title: str | None
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    usage: ChatUsageOut | None = Field(
        None, description="Token and cost totals; given by `GET /chats/{id}` only."
    )

    @classmethod
    def of(cls, chat: Chat, usage: ChatUsageOut | None = None) -> ChatOut:
        """The public view of a chat row."""
        return cls(
            id=chat.id,
            title=chat.title,
            metadata=chat.meta,
            created_at=chat.created_at,
            updated_at=chat.updated_at,
            usage=usage,
        )


class ChatPage(Page[ChatOut]):
    """A page of chats, newest first."""

    model_config = examples({"data": [CHAT], "has_more": True, "next_cursor": CHAT_ID})
