"""What a `/v1/chat/completions` request says, and the conversation the agent is given."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from qna_agent.agent.types import ChatMessage
from qna_agent.api.openai.errors import OpenAIError


class TextPart(BaseModel):
    """One part of a multi-part message; only text parts are read."""

    model_config = ConfigDict(
        extra="allow", json_schema_extra={"examples": [{"type": "text", "text": "Hello"}]}
    )

    type: str
    text: str | None = None


class WireMessage(BaseModel):
    """A message as OpenAI clients send it."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"examples": [{"role": "user", "content": "Can I return a gift?"}]},
    )

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        """The message's text (text parts joined)."""
        if isinstance(self.content, list):
            return "".join(part.text or "" for part in self.content if part.type == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(
        extra="allow", json_schema_extra={"examples": [{"include_usage": True}]}
    )

    include_usage: bool = False


class CompletionRequest(BaseModel):
    """The fields of a Chat Completions request the agent uses; the rest are accepted and
    ignored (sampling is the service's configuration, and tools run server-side)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "model": "qna-agent",
                    "messages": [{"role": "user", "content": "How long do I have to return?"}],
                    "stream": False,
                }
            ]
        },
    )

    model: str = Field(min_length=1, max_length=200)
    messages: list[WireMessage] = Field(min_length=1, max_length=500)
    stream: bool = False
    stream_options: StreamOptions | None = None


def to_history(messages: list[WireMessage]) -> tuple[list[ChatMessage], list[int]]:
    """The conversation for the agent, and each message's index in the request; the last
    message must be the user's question. (Lengths are the engine's to check.)"""
    history: list[ChatMessage] = []
    positions: list[int] = []
    for position, message in enumerate(messages):
        text = message.text()
        if message.role in ("system", "developer"):
            history.append(ChatMessage("system", text))
        elif message.role in ("user", "assistant") and text:
            history.append(ChatMessage(message.role, text))
        else:  # client-side tool results have no place here: the tools run server-side
            continue
        positions.append(position)
    if messages[-1].role != "user" or not history or history[-1].role != "user":
        raise OpenAIError(
            400,
            "the last message must be a user message with text",
            type_="invalid_request_error",
            code="invalid_messages",
        )
    return history, positions
